"""Replaying a session: iteration order, refinement, results record, atomic and idempotent outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ivos_core.interactions import load_session, save_session
from ivos_core.jobs.record import JobResult
from ivos_core.paths import UnsafePathError, VideoNotFoundError
from ivos_core.jobs import (
    FrameOut,
    JobError,
    is_done,
    output_dir,
    replay_session,
    resolve_model,
    write_outputs,
)
from ivos_core.jobs import robot_session as simulate_session


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from ivos_core.data.davis import DavisDataset
    from ivos_core.data.synthetic import write_synthetic_video

    root = tmp_path_factory.mktemp("data")
    write_synthetic_video(root / "davis", "synth", n_frames=8, seed=0, height=96, width=128)
    seq = DavisDataset(root / "davis", split="val").sequence("synth")
    gts = [seq.mask(i) for i in range(len(seq))]
    return root, gts


class StandIn:
    """Interactive = ground truth near the clicks (records calls); propagation = last annotation."""

    version = "standin-1"

    def __init__(self, gts):
        self.gts = gts
        self.calls = []
        self.corrections = []
        self.ann = {}
        self.fits = []

    def open(self, source):
        self.source = source

    def interact(self, frame_index, inputs, prev_mask, *, correction=False):
        self.corrections.append(correction)
        self.calls.append((frame_index, len(inputs), None if prev_mask is None else int(prev_mask.sum())))
        m = np.zeros_like(self.gts[frame_index]) if prev_mask is None else prev_mask.copy()
        yy, xx = np.ogrid[: m.shape[0], : m.shape[1]]
        for c in inputs:
            disk = (yy - c.y) ** 2 + (xx - c.x) ** 2 <= 20**2
            m = (m | (disk & self.gts[frame_index])) if c.positive else (m & ~disk)
        return m

    def add_annotation(self, i, m):
        self.ann[i] = m

    def fit(self, steps):
        self.fits.append((steps, sorted(self.ann)))

    def propagate(self):
        last = self.ann[max(self.ann)]
        for i in range(len(self.gts)):
            yield FrameOut(i, last, 0.5)


def test_replay_order_record_and_outputs(video, tmp_path):
    root, gts = video
    s = simulate_session(gts, uri="davis/JPEGImages/480p/synth", session_id="s/1", clicks_first=3, refine_frames=[5])
    be = StandIn(gts)
    r = replay_session(s, video_roots=[root], backend=be)
    # first frame: cumulative inputs, each on the previous mask; refinement starts from propagation
    assert [c[:2] for c in be.calls] == [(0, 1), (0, 2), (0, 3), (5, 1)]
    assert be.calls[0][2] is None and be.calls[1][2] > 0
    assert be.calls[3][2] == int(r.masks[0].sum()) or be.calls[3][2] > 0
    assert [f[1] for f in be.fits] == [[0], [0, 5]]  # progressive refinement re-fits with frame 5
    assert be.corrections == [False, False, False, True]  # the refinement corrects a propagated mask
    rec = r.record
    assert rec.model_version == "standin-1" and len(rec.iterations) == 4 and rec.n_iterations == 4
    assert rec.iterations[0]["iou_prev"] is None and rec.iterations[1]["iou_prev"] is not None
    assert len(rec.frames) == 8 and rec.frames[1]["iou_prev_frame"] is not None
    assert rec.frames[0]["iou_gt"] > 0.8  # clicks through the stand-in reach the object
    out = write_outputs(r, tmp_path / "out")
    assert out == output_dir(tmp_path / "out", "s/1", "standin-1") and is_done(tmp_path / "out", "s/1", "standin-1")
    assert len(list((out / "masks").glob("*.png"))) == 8
    for name in ("sticker.apng", "sticker.gif", "results.json", "DONE"):
        assert (out / name).is_file()
    written = json.loads((out / "results.json").read_text())
    assert written["files"]["overlay"].startswith("overlay.") and written["schema"] == "ivos-job-results/1"
    assert "write_s" in written["timings"] and JobResult.model_validate(written).final_iou == rec.final_iou
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tmp-")]
    # re-running does no work: the folder is untouched
    before = (out / "DONE").stat().st_mtime_ns
    assert write_outputs(r, tmp_path / "out") == out and (out / "DONE").stat().st_mtime_ns == before


def test_stale_tmp_of_killed_job_is_removed(video, tmp_path):
    root, gts = video
    s = simulate_session(gts, uri="davis/JPEGImages/480p/synth", session_id="s2", clicks_first=1)
    r = replay_session(s, video_roots=[root], backend=StandIn(gts))
    parent = tmp_path / "out" / "standin-1"
    stale = parent / ".tmp-s2-deadbeef"
    stale.mkdir(parents=True)
    (stale / ".owner").write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": 2**22 + 7}))
    (stale / "results.json").write_text("{partial")
    write_outputs(r, tmp_path / "out")
    assert not stale.exists()


def test_missing_and_unsafe_video(video, tmp_path):
    root, gts = video
    s = simulate_session(gts, uri="davis/JPEGImages/480p/nope", session_id="s3", clicks_first=1)
    with pytest.raises(VideoNotFoundError, match="davis/JPEGImages/480p/nope"):
        replay_session(s, video_roots=[root], backend=StandIn(gts))
    s = simulate_session(gts, uri="../etc", session_id="s4", clicks_first=1)
    with pytest.raises(UnsafePathError):
        replay_session(s, video_roots=[root], backend=StandIn(gts))


def test_model_without_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(JobError, match="no interactive checkpoint"):
        resolve_model("lite", models_dir=tmp_path)
    spec = resolve_model("gc", models_dir=tmp_path, interactive="grabcut", finetune_steps=3)
    assert spec.interactive_checkpoint is None and spec.version.startswith("gc-")
    assert resolve_model("gc", models_dir=tmp_path, interactive="grabcut", finetune_steps=4).version != spec.version


def test_model_json_interactive_options_reach_the_segmenter(tmp_path):
    """model.json's interactive_options configure the deep model and version its outputs."""
    import torch

    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.models import build_interactive
    from ivos_core.jobs import ModelVersion, load_interactive

    torch.manual_seed(0)
    mdir = tmp_path / "m"
    save_checkpoint(mdir / "interactive", build_interactive("lite"), {"input_size": 64})
    plain = resolve_model("m", models_dir=tmp_path)
    assert plain.interactive_options == {}
    opts = {"crf": True, "colour_weight": 0.5, "keep_clicked": True}
    (mdir / "model.json").write_text(json.dumps({"interactive_options": opts}))
    spec = resolve_model("m", models_dir=tmp_path)
    assert spec.interactive_options == opts and spec.version != plain.version
    assert ModelVersion.from_dict(spec.to_dict()) == spec  # flows pass specs as dicts
    seg = load_interactive(spec, "cpu")
    assert (seg.crf, seg.colour_weight, seg.keep_clicked) == (True, 0.5, True)
    (mdir / "model.json").write_text(json.dumps({"interactive_options": {"colour": 1}}))
    with pytest.raises(JobError, match="unknown interactive_options \\['colour'\\]"):
        resolve_model("m", models_dir=tmp_path)
    (mdir / "model.json").write_text(json.dumps({"interactive_options": {"threshold": 2}}))
    with pytest.raises(JobError, match="bad interactive_options .*threshold must lie in"):
        resolve_model("m", models_dir=tmp_path)


def test_replay_grabcut_osvos_lite(video, tmp_path):
    """The real parts (GrabCut clicks + OSVOS-lite fine-tuning), tiny budget: plumbing + first frame."""
    import torch

    torch.manual_seed(0)
    root, gts = video
    s = simulate_session(gts, uri="davis/JPEGImages/480p/synth", session_id="s5", clicks_first=3)
    save_session(s, tmp_path / "s5.json")
    s = load_session(tmp_path / "s5.json")
    spec = resolve_model("gc", models_dir=tmp_path, interactive="grabcut", finetune_steps=5)
    r = replay_session(s, video_roots=[root], spec=spec, device="cpu")
    assert r.model_version == spec.version and len(r.masks) == 8
    assert r.record.frames[0]["iou_gt"] > 0.75  # measured 0.82 (GrabCut, 3 robot clicks)


class KeepClickedStub:
    """An interactive method with InteractiveSegmenter's clicked-component filter: the previous
    mask plus a disk at each positive click, then (``keep_clicked``) only the components that
    hold a positive click."""

    keep_clicked = True

    def set_image(self, image):
        self.shape = image.shape[:2]

    def predict(self, inputs, prev_mask=None, keep_clicked=None):
        from ivos_core.interactive.colour import keep_clicked_components

        m = np.zeros(self.shape, bool) if prev_mask is None else np.asarray(prev_mask, bool).copy()
        yy, xx = np.ogrid[: self.shape[0], : self.shape[1]]
        for c in inputs:
            disk = (yy - c.y) ** 2 + (xx - c.x) ** 2 <= 6**2
            m = (m | disk) if c.positive else (m & ~disk)
        if self.keep_clicked if keep_clicked is None else keep_clicked:
            m = keep_clicked_components(m, [p for c in inputs if c.positive for p in c.points()])
        return m


def test_job_refinement_keeps_unclicked_parts_of_propagated_mask(video):
    """A model version with ``keep_clicked: true``: a correction click on one part of a propagated
    two-part mask must not delete the other part (it was never clicked, but it is the object)."""
    from ivos_core.interactions import AnnotatedFrame, Click, Interaction, Session, VideoRef
    from ivos_core.jobs import ModelVersion, VideoSegmenterBackend

    root, gts = video
    h, w = gts[0].shape
    two_parts = np.zeros((h, w), bool)
    two_parts[10:40, 10:40] = True  # the part the user clicks
    two_parts[50:80, 80:110] = True  # the part nobody clicks

    class FixedPropagation(VideoSegmenterBackend):
        def fit(self, steps):
            pass

        def propagate(self):
            for i in range(len(gts)):
                yield FrameOut(i, two_parts, 0.5)

    spec = ModelVersion(name="cc", interactive_checkpoint=None, interactive="grabcut", finetune_steps=0,
                        interactive_options={"keep_clicked": True})
    backend = FixedPropagation(spec, device="cpu", segmenter=KeepClickedStub())
    first = AnnotatedFrame(frame_index=0, stage="first_frame",
                           iterations=[Interaction(index=0, inputs=[Click(x=25, y=25)], duration_s=1.0)])
    refine = AnnotatedFrame(frame_index=4, stage="refinement",
                            iterations=[Interaction(index=0, inputs=[Click(x=38, y=38)], duration_s=1.0)])
    s = Session(session_id="cc", user_id="u", created_at="2024-01-01T00:00:00Z", frames=[first, refine],
                video=VideoRef(uri="davis/JPEGImages/480p/synth", width=w, height=h, n_frames=len(gts), fps=24.0))
    r = replay_session(s, video_roots=[root], backend=backend, spec=spec)
    corrected = r.masks[4]
    assert corrected[60, 95], "the unclicked part of the propagated mask was deleted"
    assert corrected[25, 25] and corrected[38, 38]
    # the first frame still uses the filter (its mask comes from clicks only)
    assert r.masks[0][25, 25] and not r.masks[0][60, 95]
