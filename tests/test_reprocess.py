"""Batch re-processing: fan-out, skip what is done, list failures with reasons, compare versions."""

from __future__ import annotations

import json

import pytest

from ivos_core.interactions import save_session
from ivos_core.jobs import robot_session as simulate_session


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    from ivos_core.data.davis import DavisDataset
    from ivos_core.data.synthetic import write_synthetic_video

    root = tmp_path_factory.mktemp("data")
    write_synthetic_video(root / "davis", "synth", n_frames=6, seed=0, height=64, width=96)
    seq = DavisDataset(root / "davis", split="val").sequence("synth")
    gts = [seq.mask(i) for i in range(len(seq))]
    logs = root / "sessions"
    for k in range(2):
        s = simulate_session(gts, uri="davis/JPEGImages/480p/synth", session_id=f"good{k}", clicks_first=2 + k)
        save_session(s, logs / f"good{k}.json")
    broken = simulate_session(gts, uri="davis/JPEGImages/480p/missing", session_id="nofile", clicks_first=1)
    save_session(broken, logs / "nofile.json")
    return root, logs


def test_reprocess_skips_done_lists_failures_and_compares(prefect_harness, sessions, tmp_path):
    from flows.reprocess import reprocess_flow

    root, logs = sessions
    kw = dict(sessions=[str(logs)], interactive="grabcut", out=str(tmp_path), video_roots=[str(root)],
              finetune_steps=3, max_concurrency=2, device="cpu")
    first = reprocess_flow(model="a", **kw)
    assert first["n_done"] == 2 and first["n_failed"] == 1
    failed = [s for s in first["sessions"] if s["status"] == "failed"]
    assert failed[0]["session_id"] == "nofile" or "nofile" in failed[0]["session"]
    assert "missing" in json.dumps(failed[0])  # the reason names the video that is not there

    again = reprocess_flow(model="a", **kw)
    assert again["n_skipped"] == 2 and again["n_done"] == 0  # finished sessions do no work

    other = reprocess_flow(model="b", compare_to=first["model_version"], **{**kw, "finetune_steps": 4})
    compared = [s for s in other["sessions"] if s["status"] == "done"]
    assert len(compared) == 2
    for s in compared:
        assert 0.0 <= s["mean_iou_between"] <= 1.0
        assert s["iou_gt_a"] is not None and s["iou_gt_b"] is not None  # synthetic videos have ground truth


def test_reprocess_in_a_process_pool(prefect_harness, sessions, tmp_path):
    """``task_runner="processes"``: each session replays in its own process (the CRF and GrabCut
    hold the GIL, threads would serialise them); same outcome as the thread pool."""
    from flows.reprocess import reprocess_flow

    root, logs = sessions
    res = reprocess_flow(sessions=[str(logs)], interactive="grabcut", out=str(tmp_path), video_roots=[str(root)],
                         finetune_steps=3, max_concurrency=2, device="cpu", model="p", task_runner="processes")
    assert res["n_done"] == 2 and res["n_failed"] == 1
    done = [s for s in res["sessions"] if s["status"] == "done"]
    assert all((tmp_path / res["model_version"]).is_dir() for _ in done)
