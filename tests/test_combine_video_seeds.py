"""scripts/combine_video_seeds.py: seeds and parents combined into one video selection, by its rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "combine_video_seeds", Path(__file__).resolve().parents[1] / "scripts" / "combine_video_seeds.py")
combine_mod = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(combine_mod)


def _run(parent: str, seed: int, js: dict[str, tuple[float, float]], fold: list[str] | None = None) -> dict:
    cands = [{"label": lab, "options": {"mask_threshold": t}, "J": {s: v[k] for s, v in js.items()}}
             for k, (lab, t) in enumerate((("thr0.5", 0.5), ("thr0.8", 0.8)))]
    return {"split": "train", "sequences": list(js), "parent": parent, "seed": seed, "frame_stride": 2, "max_side": 480,
            "candidates": cands, **({"fold_sequences": fold} if fold else {})}


def test_dev_and_fold_parents_combine_by_mean_over_sequences_and_seeds():
    runs = [
        _run("shipped", 0, {"hockey": (0.80, 0.84)}), _run("fold", 0, {"kite-walk": (0.70, 0.60)}, ["kite-walk"]),
        _run("shipped", 1, {"hockey": (0.82, 0.83)}), _run("fold", 1, {"kite-walk": (0.72, 0.62)}, ["kite-walk"]),
    ]
    doc = combine_mod.combine(runs, "t")
    assert doc["sequences"] == ["hockey", "kite-walk"] and doc["seeds"] == [0, 1]
    assert doc["parents"] == {"hockey": "shipped", "kite-walk": "fold"} and doc["fold_sequences"] == ["kite-walk"]
    means = {c["label"]: c["J_mean"] for c in doc["candidates"]}
    assert means["thr0.5"] == pytest.approx((0.80 + 0.70 + 0.82 + 0.72) / 4)
    assert means["thr0.8"] == pytest.approx((0.84 + 0.60 + 0.83 + 0.62) / 4)
    assert doc["choice"]["label"] == "thr0.5"  # better on the fold, worse on hockey: the mean decides


def test_refuses_uneven_seeds_two_parents_for_one_sequence_and_test_splits():
    a = _run("shipped", 0, {"hockey": (0.8, 0.8)})
    with pytest.raises(SystemExit, match="same sequences"):
        combine_mod.combine([a, _run("shipped", 1, {"lucia": (0.8, 0.8)})], "t")
    with pytest.raises(SystemExit, match="two parents"):
        combine_mod.combine([a, _run("fold", 1, {"hockey": (0.8, 0.8)})], "t")
    with pytest.raises(SystemExit, match="split"):
        combine_mod.combine([{**a, "split": "val"}], "t")


_SPEC2 = importlib.util.spec_from_file_location(
    "video_stage_record", Path(__file__).resolve().parents[1] / "scripts" / "video_stage_record.py")
stage_mod = importlib.util.module_from_spec(_SPEC2)
_SPEC2.loader.exec_module(stage_mod)


def test_a_later_stage_is_paired_against_the_earlier_choice_and_the_baseline_wins_ties():
    earlier = combine_mod.combine([_run("shipped", 0, {"hockey": (0.80, 0.84), "lucia": (0.7, 0.9)}),
                                   _run("shipped", 1, {"hockey": (0.82, 0.86), "lucia": (0.7, 0.8)})], "t")

    def later(vals):  # one new candidate: {seq: (seed0, seed1)}
        runs = [{"split": "train", "sequences": list(vals), "parent": "shipped", "seed": s, "frame_stride": 2,
                 "max_side": 480, "candidates": [{"label": "aug2", "options": {}, "J": {q: v[s] for q, v in vals.items()}}]}
                for s in (0, 1)]
        return combine_mod.combine(runs, "stage")

    worse = stage_mod.stage_record(earlier, "thr0.8", [later({"hockey": (0.80, 0.82), "lucia": (0.85, 0.8)})], "d", "rec")
    p = worse["paired_vs_shipped"][0]
    assert p["n"] == 2 and p["wins"] == 0 and p["losses"] == 2 and p["mean_diff"] == pytest.approx(-0.0325)
    assert worse["choice_after_rule"]["label"] == "thr0.8" and worse["against"]["source"] == "rec"
    tie = stage_mod.stage_record(earlier, "thr0.8", [later({"hockey": (0.84, 0.86), "lucia": (0.9, 0.8)})], "d", "rec")
    assert tie["choice_after_rule"]["label"] == "thr0.8"
    better = stage_mod.stage_record(earlier, "thr0.8", [later({"hockey": (0.9, 0.9), "lucia": (0.9, 0.8)})], "d", "rec")
    assert better["choice_after_rule"]["label"] == "aug2"
    with pytest.raises(SystemExit, match="not a candidate"):
        stage_mod.stage_record(earlier, "nope", [later({"hockey": (0.9, 0.9), "lucia": (0.9, 0.8)})], "d", "rec")


def test_runs_with_f_combine_jf_and_the_jf_rule_can_choose_differently():
    def run(seed, j, f):  # two candidates on hockey: (J, F) of crf0, crf2
        return {"split": "train", "sequences": ["hockey"], "parent": "p", "seed": seed, "frame_stride": 2, "max_side": 480,
                "candidates": [{"label": lab, "options": {}, "J": {"hockey": j[k]}, "F": {"hockey": f[k]}}
                               for k, lab in enumerate(("crf0", "crf2"))]}

    runs = [run(0, (0.80, 0.82), (0.80, 0.70)), run(1, (0.80, 0.82), (0.80, 0.70))]
    by_j = combine_mod.combine(runs, "t")
    by_jf = combine_mod.combine(runs, "t", "JF")
    assert by_j["choice"]["label"] == "crf2"  # J alone prefers the CRF
    assert by_jf["choice"]["label"] == "crf0" and by_jf["choice"]["JF_mean"] == pytest.approx(0.80)
    c2 = next(c for c in by_jf["candidates"] if c["label"] == "crf2")
    assert c2["F_mean"] == pytest.approx(0.70) and c2["JF_mean"] == pytest.approx(0.76) and "J&F" in by_jf["rule"]
    old = [{**r, "candidates": [{k: v for k, v in c.items() if k != "F"} for c in r["candidates"]]} for r in runs]
    assert "JF_mean" not in combine_mod.combine(old, "t")["candidates"][0]  # older runs: J only
    with pytest.raises(SystemExit, match="recorded F"):
        combine_mod.combine(old, "t", "JF")
