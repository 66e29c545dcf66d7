"""Motion difficulty (paper §4.2): flow score ordering, consecutive IoU values, tables, correlation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest

from ivos_core.difficulty import (
    DifficultyScore,
    consecutive_mask_iou,
    correlate,
    difficulty_table,
    flow_difficulty,
    score_vs_consecutive_iou,
)

H, W = 96, 128


def _texture(rng: np.random.Generator, h: int, w: int, cells: int = 12) -> np.ndarray:
    """(h, w, 3) uint8 smooth random texture (trackable by optical flow)."""
    small = rng.random((cells, cells * w // h, 3)).astype(np.float32)
    return (cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def moving_square(speed: float, n: int = 6, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A 32x32 textured square moving ``speed`` px/frame right over a static textured background."""
    rng = np.random.default_rng(seed)
    bg = _texture(rng, H, W)
    obj = _texture(rng, 32, 32, cells=4)
    frames, masks = [], []
    for t in range(n):
        x = int(round(10 + speed * t))
        f = bg.copy()
        m = np.zeros((H, W), bool)
        f[32:64, x : x + 32] = obj[:, : max(0, min(32, W - x))]
        m[32:64, x : x + 32] = True
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_static_video_scores_about_zero():
    frames, _ = moving_square(0.0)
    d = flow_difficulty(frames)
    assert isinstance(d, DifficultyScore) and d.n_frames == 6
    assert d.score < 0.05
    assert d.mean_flow_magnitude < 1e-3 and d.mean_warp_error < 1e-3


def test_fast_object_scores_higher_than_slow():
    slow = flow_difficulty(moving_square(1.0)[0])
    fast = flow_difficulty(moving_square(8.0)[0])
    assert fast.score > slow.score > 0
    assert fast.flow_magnitude_p95 > slow.flow_magnitude_p95


def test_flow_mask_iou_tracks_ground_truth_overlap():
    f_slow, m_slow = moving_square(1.0)
    f_fast, m_fast = moving_square(8.0)
    slow = flow_difficulty(f_slow, first_mask=m_slow[0]).flow_mask_iou
    fast = flow_difficulty(f_fast, first_mask=m_fast[0]).flow_mask_iou
    assert fast < slow <= 1.0
    assert slow == pytest.approx(consecutive_mask_iou(m_slow), abs=0.1)
    assert fast >= consecutive_mask_iou(m_fast) - 0.05  # large motions are underestimated, not invented
    assert flow_difficulty(f_slow).flow_mask_iou is None


def test_flow_difficulty_is_resolution_independent():
    frames, _ = moving_square(4.0)
    big = [cv2.resize(f, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR) for f in frames]
    a = flow_difficulty(frames, max_side=128)
    b = flow_difficulty(big, max_side=128)  # downscaled back to the same size
    assert b.score == pytest.approx(a.score, rel=0.25)


def test_short_and_bad_inputs():
    frames, _ = moving_square(2.0, n=1)
    assert flow_difficulty(frames) == DifficultyScore(0.0, 0.0, 0.0, 0.0, 1)
    assert flow_difficulty(iter([])).n_frames == 0
    with pytest.raises(ValueError, match="uint8"):
        flow_difficulty([np.zeros((8, 8, 3), np.float32)] * 2)


def test_consecutive_mask_iou_known_values():
    a = np.zeros((10, 10), bool)
    a[:, :4] = True
    b = np.zeros((10, 10), bool)
    b[:, 2:6] = True  # overlap 2 columns of a 6-column union
    assert consecutive_mask_iou([a, a, a]) == 1.0
    assert consecutive_mask_iou([a, b]) == pytest.approx(2 / 6)
    assert consecutive_mask_iou([a, b, b]) == pytest.approx((2 / 6 + 1) / 2)
    empty = np.zeros((10, 10), bool)
    assert consecutive_mask_iou([empty, empty]) == 1.0
    assert consecutive_mask_iou([a, empty]) == 0.0
    with pytest.raises(ValueError, match="two masks"):
        consecutive_mask_iou([a])
    _, slow = moving_square(1.0)
    _, fast = moving_square(8.0)
    assert consecutive_mask_iou(fast) < consecutive_mask_iou(slow)


def test_correlate_signs_and_errors():
    df = pd.DataFrame(
        {
            "score": [1.0, 2.0, 3.0, 4.0],
            "mean_flow_magnitude": [0.1, 0.2, 0.3, 0.5],
            "flow_magnitude_p95": [0.2, 0.3, 0.4, 0.6],
            "mean_warp_error": [0.01, 0.03, 0.02, 0.04],
            "consecutive_iou": [0.95, 0.9, 0.8, 0.7],
            "J": [0.9, 0.8, 0.7, 0.6],
        }
    )
    r = correlate(df, "J")
    assert r["n"] == 4
    assert r["pearson_r_flow_vs_j"] == pytest.approx(-1.0)
    assert r["pearson_r_consecutive_iou_vs_j"] > 0.9
    assert r["pearson_r_flow_vs_consecutive_iou"] < -0.9
    with pytest.raises(KeyError, match="OSVOS J"):
        correlate(df, "J_osvos")
    assert math.isnan(correlate(df.head(2), "J")["pearson_r_flow_vs_j"])
    assert score_vs_consecutive_iou(df)["pearson_r_score_vs_consecutive_iou"] < -0.9


def test_difficulty_table_on_synthetic_davis_root(tmp_path):
    from ivos_core.data.synthetic import write_synthetic_video

    for i in range(2):
        write_synthetic_video(tmp_path, f"v{i}", n_frames=4, seed=i, height=60, width=80, occluder=False)
    df = difficulty_table(tmp_path, "val", max_side=80)
    assert list(df["sequence"]) == ["v0", "v1"]
    assert {"score", "mean_flow_magnitude", "flow_magnitude_p95", "mean_warp_error", "consecutive_iou"} <= set(df)
    assert (df["n_frames"] == 4).all() and (df["width"] == 80).all()
    assert ((df["consecutive_iou"] > 0) & (df["consecutive_iou"] <= 1)).all()


def test_cli_difficulty_writes_parquet(tmp_path):
    from typer.testing import CliRunner

    from flows.cli_simulate import simulate_app
    from ivos_core.data.synthetic import write_synthetic_video

    write_synthetic_video(tmp_path / "d", "v", n_frames=3, seed=0, height=60, width=80, occluder=False)
    out = tmp_path / "diff.parquet"
    db = tmp_path / "a.duckdb"
    res = CliRunner().invoke(simulate_app, ["difficulty", "--davis", str(tmp_path / "d"), "--out", str(out),
                                            "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(out)["sequence"].tolist() == ["v"]
    from analytics.store import connect_readonly

    con = connect_readonly(db)
    rows = con.execute("select dataset, sequence, kind, difficulty from sequence_stats").fetchall()
    con.close()
    assert len(rows) == 1 and rows[0][:3] == ("davis2016", "v", "flow") and rows[0][3] >= 0


def test_real_davis_sequence(shared_data):
    davis = shared_data / "DAVIS"
    if not davis.is_dir():
        pytest.skip("no DAVIS folder in the shared data")
    df = difficulty_table(davis, "val", sequences=["blackswan"], max_side=160)
    row = df.iloc[0]
    assert row["n_frames"] == 50 and row["width"] == 854
    assert 0.0 < row["score"] < 100.0 and 0.5 < row["consecutive_iou"] <= 1.0
