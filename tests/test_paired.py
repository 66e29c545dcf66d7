"""Paired per-item comparisons: hand-made numbers, refusals, and the compare command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ivos_core.paired import PairedError, paired_comparison, per_item_noc


def test_counts_and_mean_difference_by_hand():
    a = {"x": 5, "y": 3, "z": 20, "w": 2}
    b = {"x": 3, "y": 3, "z": 10, "w": 4}  # diffs b - a: -2, 0, -10, +2
    r = paired_comparison(a, b, n_boot=2000)
    assert (r["n"], r["wins"], r["ties"], r["losses"]) == (4, 2, 1, 1)
    assert r["mean_diff"] == pytest.approx(-2.5)
    assert r["mean_a"] == pytest.approx(7.5) and r["mean_b"] == pytest.approx(5.0)
    lo, hi = r["ci"]
    assert -10 <= lo <= -2.5 <= hi <= 2  # inside the range of the per-item differences
    assert r["ci_excludes_zero"] == (hi < 0 or lo > 0)


def test_bootstrap_is_seeded_and_default_10000():
    rng = np.random.default_rng(1)
    a = {f"i{k}": float(v) for k, v in enumerate(rng.integers(1, 21, 60))}
    b = {k: max(1.0, v - 2) for k, v in a.items()}
    r1, r2 = paired_comparison(a, b, seed=3), paired_comparison(a, b, seed=3)
    assert r1["n_boot"] == 10000 and r1["ci"] == r2["ci"]
    assert paired_comparison(a, b, seed=4)["ci"] != r1["ci"]
    # B is never worse and mostly better: the interval lies below zero
    assert r1["losses"] == 0 and r1["ci"][1] < 0 and r1["ci_excludes_zero"]


def test_identical_runs_give_a_zero_interval():
    a = {"p": 4, "q": 7, "r": 1}
    r = paired_comparison(a, dict(a))
    assert r["ties"] == 3 and r["mean_diff"] == 0 and r["ci"] == [0.0, 0.0] and not r["ci_excludes_zero"]


def test_constant_shift_interval_is_the_shift():
    a = {str(i): float(i % 7 + 3) for i in range(30)}
    b = {k: v - 1.5 for k, v in a.items()}
    r = paired_comparison(a, b)
    assert r["ci"] == pytest.approx([-1.5, -1.5]) and r["wins"] == 30


def test_higher_is_better_flips_wins():
    r = paired_comparison({"a": 0.5, "b": 0.7}, {"a": 0.6, "b": 0.7}, lower_is_better=False)
    assert (r["wins"], r["ties"], r["losses"]) == (1, 1, 0)


def test_different_items_are_refused():
    with pytest.raises(PairedError, match="same items") as e:
        paired_comparison({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "d": 3})
    assert "'c'" in str(e.value) and "'d'" in str(e.value)
    with pytest.raises(PairedError, match="no items"):
        paired_comparison({}, {})


def _run(tmp_path, name, nocs):
    d = tmp_path / name
    d.mkdir()
    pd.DataFrame({"item": list(nocs), "noc@85": [v - 1 for v in nocs.values()],
                  "noc@90": list(nocs.values())}).to_parquet(d / "per_image.parquet", index=False)
    (d / "summary.json").write_text(json.dumps({
        "dataset": "coco_mval", "split": "dev", "role": "development", "method": name, "n": len(nocs),
        "noc": {"0.85": float(np.mean(list(nocs.values())) - 1), "0.9": float(np.mean(list(nocs.values())))},
        "miou_at": {"1": 0.5, "2": 0.7}}))
    return d


def test_per_item_noc_reads_the_run(tmp_path):
    d = _run(tmp_path, "a", {"x": 3, "y": 5})
    assert per_item_noc(d) == {"x": 3.0, "y": 5.0}
    assert per_item_noc(d / "summary.json", 0.85) == {"x": 2.0, "y": 4.0}


def test_cli_compare_writes_paired_json(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    a = _run(tmp_path, "gc", {"x": 10, "y": 4, "z": 20})
    b = _run(tmp_path, "ours", {"x": 3, "y": 4, "z": 12})
    out = tmp_path / "cmp" / "fig.png"
    res = CliRunner().invoke(app, ["eval", "compare", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "cmp" / "fig.paired.json").read_text())
    (c,) = doc["comparisons"]
    assert c["a"] == "gc" and c["b"] == "ours" and c["split"] == "dev"
    r = c["noc@90"]
    assert (r["wins"], r["ties"], r["losses"]) == (2, 1, 0) and r["mean_diff"] == pytest.approx(-5.0)
    assert "paired" in res.output
    bad = _run(tmp_path, "other", {"x": 3, "q": 4, "z": 12})
    res = CliRunner().invoke(app, ["eval", "compare", str(a), str(bad), "--out", str(out)])
    assert res.exit_code != 0 and "same items" in res.output.replace("\n", " ").replace("│", " ")
