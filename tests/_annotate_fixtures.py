"""Shared by the annotation app's tests: a tiny data root, a random-weight lite model, the app."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def make_root(root: Path, *, height: int = 96, width: int = 128, n_frames: int = 6) -> Path:
    """``root/davis`` (DAVIS layout, sequence ``synth``), ``root/clips/synth.mp4`` and a symlink
    ``root/escape`` pointing out of the root."""
    from ivos_core.data.synthetic import write_synthetic_video

    write_synthetic_video(root / "davis", "synth", n_frames=n_frames, seed=0, height=height, width=width)
    write_synthetic_video(root / "clips", "clip", n_frames=4, seed=1, height=height, width=width, as_davis=False, mp4=True)
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.mp4").write_bytes(b"not a video")
    try:
        os.symlink(outside, root / "escape")
    except OSError:
        pass
    return root


def make_spec(tmp: Path, *, input_size: int = 64, finetune_steps: int = 2):
    """A job model spec with a random-weight lite interactive checkpoint (same speed as a trained one)."""
    import torch

    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.models import build_interactive
    from ivos_core.jobs import resolve_model

    torch.manual_seed(0)
    ckpt = tmp / "models" / "tiny" / "interactive"
    if not ckpt.with_name("interactive.json").exists():
        save_checkpoint(ckpt, build_interactive("lite"), {"input_size": input_size})
    return resolve_model("tiny", models_dir=tmp / "models", finetune_steps=finetune_steps)


def make_config(tmp: Path, root: Path, *, token: str | None = None, spec=None, method=None, **kw):
    from flows.annotate.app import AnnotateConfig
    from flows.annotate.jobs import JobRunner
    from ivos_core.annotation.workspace import build_method, build_video_segmenter

    spec = spec or make_spec(tmp)
    return AnnotateConfig(
        roots=[root],
        sessions_dir=tmp / "sessions",
        method=method if method is not None else build_method(spec, device="cpu"),
        video_segmenter=lambda: build_video_segmenter(spec, device="cpu"),
        jobs=JobRunner(spec=spec, out=tmp / "jobs", roots=[root], mode="local", device="cpu"),
        token=token,
        user_id="tester",
        model_name=spec.version,
        finetune_steps=spec.finetune_steps,
        **kw,
    )


def blank(shape) -> np.ndarray:
    return np.zeros(shape, bool)
