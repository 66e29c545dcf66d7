"""Behaviour-simulated sessions: schema, determinism, stopping rules, refine share, input geometry.

Cheap stand-ins keep this fast: a tiny video of a red ellipse moving over green (so a colour
threshold is a perfect "oracle" segmenter) and a propagation that copies the first mask.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from ivos_core.users import (
    ArrayVideo,
    UserProfile,
    at_scale,
    sample_users,
    simulate_session,
    simulate_sessions,
    write_sessions,
)
from ivos_core.interactions import Click, Stroke, VideoRef, load_session, parse_session

H, W, T = 48, 64, 6
WHEN = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def make_video(speed: int = 3) -> ArrayVideo:
    """A red ellipse (semi-axes 12 x 9) moving ``speed`` px/frame to the right over green."""
    frames = np.zeros((T, H, W, 3), np.uint8)
    masks = np.zeros((T, H, W), bool)
    yy, xx = np.mgrid[:H, :W]
    for t in range(T):
        m = (xx - (20 + speed * t)) ** 2 / 144 + (yy - 24) ** 2 / 81 <= 1
        masks[t] = m
        frames[t][m] = (200, 40, 40)
        frames[t][~m] = (30, 90, 30)
    return ArrayVideo(frames, masks, name="ellipse")


REF = VideoRef(uri="synthetic/ellipse", width=W, height=H, n_frames=T)


def oracle(image, inputs, prev):
    """Perfect segmenter for :func:`make_video` (colour threshold)."""
    return image[..., 0] > 128


def hopeless(image, inputs, prev):
    return np.zeros(image.shape[:2], bool)


def copy_first(first_mask):
    return [first_mask] * T


def all_inputs(session):
    return [inp for fr in session.frames for it in fr.iterations for inp in it.inputs]


@pytest.mark.parametrize("kind", ["clicker", "stroker", "highlighter"])
def test_sessions_validate_and_round_trip(kind, tmp_path):
    user = UserProfile(user_id="u1", kind=kind, refine_probability=1.0, patience=4)
    s = simulate_session(
        make_video(), REF, user, segment=oracle, propagate=copy_first,
        rng=np.random.default_rng(3), session_id="s1", created_at=WHEN,
    )
    assert s.source == "simulated" and s.meta["user"]["kind"] == kind
    assert s.frames[0].stage == "first_frame"
    assert s.refinement_frames, "refine_probability=1 with a copy propagation must refine"
    assert parse_session(json.loads(s.to_json())) == s
    (path,) = write_sessions([s], tmp_path)
    assert load_session(path) == s
    # inputs inside the frame, times strictly increasing over the whole session
    ts = []
    for inp in all_inputs(s):
        for x, y in inp.points():
            assert 0 <= x <= W - 1 and 0 <= y <= H - 1
        ts.append(inp.t)
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_determinism_for_a_seed():
    vids = [(make_video(), REF), (make_video(speed=5), REF)]

    def run(seed):
        return [
            s.to_json()
            for s in simulate_sessions(vids, 6, np.random.default_rng(seed), lambda v: oracle, lambda v: copy_first)
        ]

    a, b, c = run(7), run(7), run(8)
    assert a == b
    assert a != c
    seeds = [json.loads(doc)["meta"]["seed"] for doc in a]
    assert len(set(seeds)) == len(seeds)


def test_session_reproducible_from_recorded_seed():
    vids = [(make_video(), REF)]
    users = [UserProfile(user_id="u", kind="stroker", refine_probability=0.5)]
    (s,) = simulate_sessions(vids, 1, np.random.default_rng(1), lambda v: oracle, lambda v: copy_first, users=users)
    again = simulate_session(
        vids[0][0], REF, users[0], segment=oracle, propagate=copy_first,
        rng=np.random.default_rng(s.meta["seed"]), session_id=s.session_id, created_at=s.created_at,
        meta={"seed": s.meta["seed"]},
    )
    assert again == s


def test_clicker_with_oracle_stops_after_one_iteration():
    user = UserProfile(user_id="u", kind="clicker", refine_probability=0.0)
    s = simulate_session(make_video(), REF, user, segment=oracle, rng=np.random.default_rng(0),
                         session_id="s", created_at=WHEN)
    assert len(s.frames) == 1
    assert len(s.frames[0].iterations) == 1
    assert s.meta["satisfied"] and s.meta["first_frame_ious"] == [1.0]
    first = s.frames[0].iterations[0].inputs[0]
    assert isinstance(first, Click) and first.positive


@pytest.mark.parametrize("kind", ["clicker", "stroker", "highlighter"])
def test_hopeless_segmenter_hits_patience(kind):
    user = UserProfile(user_id="u", kind=kind, patience=5, refine_probability=0.0)
    s = simulate_session(make_video(), REF, user, segment=hopeless, rng=np.random.default_rng(0),
                         session_id="s", created_at=WHEN)
    assert len(s.frames[0].iterations) == 5
    assert not s.meta["satisfied"]


def test_refine_share_near_configured_probability():
    vids = [(make_video(), REF)]
    users = [UserProfile(user_id=f"u{i}", kind=k, refine_probability=0.15)
             for i, k in enumerate(["clicker", "stroker", "highlighter"])]
    sessions = simulate_sessions(vids, 300, np.random.default_rng(0), lambda v: oracle, lambda v: copy_first, users=users)
    share = sum(bool(s.refinement_frames) for s in sessions) / len(sessions)
    assert 0.10 <= share <= 0.20
    for s in (s for s in sessions if s.refinement_frames):
        assert len(s.refinement_frames) <= 2
        assert all(1 <= len(f.iterations) <= 3 for f in s.refinement_frames)
        assert len({f.frame_index for f in s.frames}) == len(s.frames)


def test_no_refinement_without_propagation():
    user = UserProfile(user_id="u", kind="clicker", refine_probability=1.0)
    s = simulate_session(make_video(), REF, user, segment=oracle, propagate=None,
                         rng=np.random.default_rng(0), session_id="s", created_at=WHEN)
    assert not s.refinement_frames and not s.meta["refined"]


def test_sampled_users_mix_and_refine_mean():
    users = sample_users(2000, np.random.default_rng(0))
    kinds = [u.kind for u in users]
    assert abs(kinds.count("clicker") / 2000 - 0.5) < 0.05
    assert abs(np.mean([u.refine_probability for u in users]) - 0.15) < 0.02
    sats = [u.satisfaction_iou for u in users]
    assert 0.80 <= min(sats) and max(sats) <= 0.96 and np.std(sats) > 0.01
    assert all(2 <= u.patience <= 15 for u in users)


def test_highlighter_scribble_is_long_relative_to_object():
    video = make_video()
    area = int(video.mask(0).sum())
    user = UserProfile(user_id="u", kind="highlighter", refine_probability=0.0)
    s = simulate_session(video, REF, user, segment=oracle, rng=np.random.default_rng(0),
                         session_id="s", created_at=WHEN)
    (scribble,) = s.frames[0].iterations[0].inputs
    assert isinstance(scribble, Stroke) and scribble.positive
    assert scribble.path_length() >= 2.0 * math.sqrt(area)
    stroker = simulate_session(video, REF, UserProfile(user_id="v", kind="stroker", refine_probability=0.0),
                               segment=oracle, rng=np.random.default_rng(0), session_id="t", created_at=WHEN)
    assert stroker.frames[0].iterations[0].inputs[0].path_length() < scribble.path_length()


def test_empty_first_frame_is_rejected():
    video = make_video()
    video.masks[0] = False
    with pytest.raises(ValueError, match="empty"):
        simulate_session(video, REF, UserProfile(user_id="u", kind="clicker"), segment=oracle,
                         rng=np.random.default_rng(0), session_id="s", created_at=WHEN)


def test_profile_validation():
    with pytest.raises(ValueError, match="kind"):
        UserProfile(user_id="u", kind="tapper")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inputs_per_iteration"):
        UserProfile(user_id="u", kind="clicker", inputs_per_iteration=(0.5, 0.2))


def test_at_scale_scales_inputs_and_restores_size():
    seen = {}

    def spy(image, inputs, prev):
        seen["shape"] = image.shape[:2]
        seen["inputs"] = inputs
        return image[..., 0] > 128

    seg = at_scale(spy, 32)
    img = make_video().frame(0)
    out = seg(img, [Click(x=63, y=47), Stroke(points=[(0, 0), (40, 20)], radius=4)], None)
    assert out.shape == (H, W) and seen["shape"] == (24, 32)
    c, s = seen["inputs"]
    assert c.x <= 31 and c.y <= 23 and s.radius == pytest.approx(2.0)
    assert (out == oracle(img, [], None)).mean() > 0.95


def test_cli_sessions_on_synthetic_root(tmp_path):
    from typer.testing import CliRunner

    from flows.cli_simulate import simulate_app
    from ivos_core.data.synthetic import write_synthetic_video

    root = tmp_path / "syn"
    write_synthetic_video(root, "a", n_frames=4, seed=0, height=60, width=80, occluder=False)
    out = tmp_path / "sessions"
    res = CliRunner().invoke(
        simulate_app, ["sessions", "--videos", str(root), "--n", "3", "--out", str(out), "--seed", "2",
                       "--refine-share", "1.0"],
    )
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 3
    docs = [load_session(f) for f in files]
    assert all(d.video.sequence == "a" and d.meta["segmenter"].startswith("model:interactive") for d in docs)
    assert "refine share: 3/3" in res.output
