"""Browser-playable overlays (H.264 / VP9, decoded back) and ``ivos segment VIDEO --click ...``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ivos_core.encode_video import VideoEncodeError, probe_video, write_browser_video
from ivos_core.export import write_overlay_preview


def _frames(n=6, h=48, w=64):
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[10:30, 8 + 3 * i:30 + 3 * i] = (220, 200, 60)  # a moving yellow block
        out.append(f)
    return out


@pytest.mark.parametrize("suffix,codec", [(".mp4", "h264"), (".webm", "vp9")])
def test_browser_video_decodes_back(tmp_path, suffix, codec):
    p = write_browser_video(tmp_path / f"v{suffix}", _frames(h=47, w=63), fps=10)  # odd sizes are padded
    info = probe_video(p)
    assert (info.codec, info.width, info.height, info.n_frames) == (codec, 64, 48, 6)
    assert abs(info.fps - 10) < 1e-6
    with pytest.raises(VideoEncodeError, match="frame 1 is"):
        write_browser_video(tmp_path / f"bad{suffix}", [_frames()[0], np.zeros((5, 5, 3), np.uint8)])
    assert not (tmp_path / f"bad{suffix}").exists() and not list(tmp_path.glob(".bad*"))


def test_overlay_preview_is_h264(tmp_path):
    frames = _frames()
    masks = [f[..., 0] > 100 for f in frames]
    p = write_overlay_preview(tmp_path / "overlay.mp4", frames, masks, fps=8)
    assert p.suffix == ".mp4" and probe_video(p).codec == "h264" and probe_video(p).n_frames == 6
    w = write_overlay_preview(tmp_path / "overlay.webm", frames, masks, fps=8)
    assert w.suffix == ".webm" and probe_video(w).codec == "vp9"


@pytest.fixture()
def mp4(tmp_path) -> Path:
    from ivos_core.data.video import write_video

    return write_video(tmp_path / "vids" / "clip.mp4", _frames(), fps=8)


def _run(args):
    from flows.cli import app

    return CliRunner().invoke(app, args)


def test_segment_mp4_with_grabcut(mp4, tmp_path):
    out = tmp_path / "out"
    r = _run(["segment", str(mp4), "--click", "20,20", "--click", "5,5,-", "--out", str(out),
              "--interactive", "grabcut", "--finetune-steps", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    logs = list(out.glob("*.session.json"))
    assert len(logs) == 1
    from ivos_core.interactions import load_session

    s = load_session(logs[0])
    assert s.video.uri == "clip.mp4" and s.video.n_frames == 6 and len(s.first_frame.iterations) == 2
    assert s.first_frame.iterations[1].inputs[0].positive is False
    job = next(p for p in out.glob("*/*") if (p / "DONE").exists())
    assert len(list((job / "masks").glob("*.png"))) == 6
    rec = json.loads((job / "results.json").read_text())
    assert rec["n_iterations"] == 2 and rec["session_id"] == s.session_id
    assert probe_video(job / "overlay.mp4").codec == "h264"
    assert (job / "sticker.apng").exists()
    # the clicked block is in the first frame's mask
    from ivos_core.export import read_mask_png

    assert read_mask_png(job / "masks" / "00000.png")[20, 20] == 1
    # the same clicks again: same session id, the finished job is not redone
    r2 = _run(["segment", str(mp4), "--click", "20,20", "--click", "5,5,-", "--out", str(out),
               "--interactive", "grabcut", "--finetune-steps", "2", "--device", "cpu"])
    assert r2.exit_code == 0 and len(list(out.glob("*.session.json"))) == 1


def test_segment_with_a_checkpoint_on_a_frame_folder(tmp_path):
    import torch
    from PIL import Image

    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.models import build_interactive

    torch.manual_seed(0)
    ck = tmp_path / "m" / "interactive"
    save_checkpoint(ck, build_interactive("lite"), {"input_size": 64})
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(_frames(n=3)):
        Image.fromarray(f).save(folder / f"{i:05d}.jpg")
    out = tmp_path / "out"
    r = _run(["segment", str(folder), "--click", "20,20", "--frame", "1", "--out", str(out),
              "--checkpoint", str(ck), "--finetune-steps", "1", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    job = next(p for p in out.glob("*/*") if (p / "DONE").exists())
    assert len(list((job / "masks").glob("*.png"))) == 3
    assert json.loads((job / "results.json").read_text())["iterations"][0]["frame_index"] == 1


def test_segment_bad_input(mp4, tmp_path):
    r = _run(["segment", str(mp4), "--click", "200,20", "--out", str(tmp_path / "o"), "--interactive", "grabcut"])
    assert r.exit_code == 2 and "outside the 64x48 frame" in r.output
    r = _run(["segment", str(mp4), "--click", "2;2", "--out", str(tmp_path / "o"), "--interactive", "grabcut"])
    assert r.exit_code == 2 and "is not X,Y" in r.output
    r = _run(["segment", str(mp4), "--click", "2,2", "--frame", "9", "--out", str(tmp_path / "o"), "--interactive", "grabcut"])
    assert r.exit_code == 2 and "past the video's last frame (5)" in r.output
    r = _run(["segment", str(tmp_path / "nope.mp4"), "--click", "2,2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no such video" in r.output
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    r = _run(["segment", str(tmp_path / "broken.mp4"), "--click", "2,2", "--out", str(tmp_path / "o"), "--interactive", "grabcut"])
    assert r.exit_code == 2 and "broken.mp4" in r.output
    r = _run(["segment", str(mp4), "--click", "2,2", "--out", str(tmp_path / "o"), "--model", "missing",
              "--models-dir", str(tmp_path)])
    assert r.exit_code == 2 and "no interactive checkpoint" in r.output


def test_segment_two_objects(tmp_path):
    """``--click X,Y,+,2``: a second object; palette PNG indices 1 and 2, one sticker per object."""
    from ivos_core.data.video import write_video
    from ivos_core.export import read_mask_png
    from ivos_core.interactions import load_session

    frames = _frames()
    for f in frames:
        f[34:46, 44:60] = (60, 200, 220)  # a second, still, cyan block
    mp4 = write_video(tmp_path / "vids" / "two.mp4", frames, fps=8)
    out = tmp_path / "out"
    r = _run(["segment", str(mp4), "--click", "20,20", "--click", "52,40,+,2", "--out", str(out),
              "--interactive", "grabcut", "--finetune-steps", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    s = load_session(next(out.glob("*.session.json")))
    assert s.object_ids == [1, 2] and [i.object_id for i in s.first_frame.all_inputs()] == [1, 2]
    job = next(p for p in out.glob("*/*") if (p / "DONE").exists())
    lab = read_mask_png(job / "masks" / "00000.png")
    assert lab[20, 20] == 1 and lab[40, 52] == 2 and lab[2, 2] == 0
    assert (job / "sticker_obj1.apng").exists() and (job / "sticker_obj2.apng").exists()
    r = _run(["segment", str(mp4), "--click", "2,2,+,0", "--out", str(tmp_path / "o"), "--interactive", "grabcut"])
    assert r.exit_code == 2 and "object ids are integers 1..254" in r.output
