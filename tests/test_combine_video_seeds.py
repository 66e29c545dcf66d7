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
