"""Prefect flow ``train-osvos-parent``: OSVOS parent training on DAVIS train, resumable.

Wraps :func:`ivos_core.training.osvos_parent.train_parent`, which checkpoints ``<out>/last`` every
``checkpoint_every`` steps and writes ``<out>/parent`` at the end. The task retries once; a retry
(or a re-run with ``resume``) continues from ``last`` with the same batches an uninterrupted run
would have seen. Progress is a Prefect progress artifact.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.progress import FlowProgress, artifact_key
from ivos_core.training.osvos_parent import OSVOSTrainConfig
from ivos_core.protocols import TrainProgress

#: Named starting points. ``lite``: the CPU network (OSVOSTrainConfig defaults); ``paper``: the
#: VGG-16 network with side outputs - a GPU configuration (bigger crops, more steps).
PRESETS: dict[str, dict[str, Any]] = {
    "lite": {},
    "paper": {"model": "paper", "steps": 20000, "batch_size": 8, "crop": 384, "checkpoint_every": 500},
}


def make_config(preset: str = "lite", **overrides: Any) -> OSVOSTrainConfig:
    """A preset with ``overrides`` (None values ignored); ``max_steps`` caps ``steps``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown OSVOS config {preset!r}; choose one of {', '.join(PRESETS)}")
    max_steps = overrides.pop("max_steps", None)
    cfg = OSVOSTrainConfig(**PRESETS[preset])
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if max_steps is not None:
        cfg = replace(cfg, steps=min(cfg.steps, int(max_steps)), checkpoint_every=min(cfg.checkpoint_every, int(max_steps)))
    return cfg


@task(name="train-osvos-parent", retries=1, retry_delay_seconds=5)
def train_parent_task(
    root: str, out: str, config: dict[str, Any], split: str, resume: bool, year: int = 2016,
    stills: str | None = None, holdout_dev: bool = False,
) -> dict[str, Any]:
    """Train (or resume) the parent on the split's sequences (minus the video development ones
    with ``holdout_dev``; plus COCO_MVal train stills with ``stills``); returns where it went."""
    from ivos_core.training.osvos_parent import parent_training_sequences, train_parent
    from ivos_core.splits import VIDEO_DEV_SEQUENCES

    cfg = OSVOSTrainConfig.from_dict(config)
    if holdout_dev:  # recorded in the checkpoint with any other held-out sequences
        cfg = replace(cfg, held_out=(*cfg.held_out, *VIDEO_DEV_SEQUENCES))
    sequences = parent_training_sequences(root, stills_root=stills, holdout=cfg.held_out, split=split, year=year)
    logger = get_run_logger()
    logger.info("training OSVOS %s on %d %s sequences for %d steps -> %s", cfg.model, len(sequences), split, cfg.steps, out)
    fp = FlowProgress(artifact_key("train-osvos", cfg.model), f"OSVOS {cfg.model} parent", terminal=False)

    def progress(p: TrainProgress) -> None:
        fp(p.step, p.total_steps, f"loss {p.loss:.4f}")
        if p.step % max(1, cfg.checkpoint_every) == 0 or p.step == p.total_steps:
            logger.info("step %d/%d loss %.4f (%.0f s)", p.step, p.total_steps, p.loss, p.elapsed_s)

    res = train_parent(cfg, sequences, out, resume=resume, progress=progress)
    tail = res.losses[-min(len(res.losses), 50):]
    return {
        "checkpoint": str(res.checkpoint),
        "model": cfg.model,
        "steps_run": res.steps,
        "start_step": res.start_step,
        "total_steps": cfg.steps,
        "resumed": res.resumed,
        "seconds": round(res.seconds, 1),
        "n_frames": res.n_frames,
        "n_sequences": len(sequences),
        "final_loss": round(sum(tail) / len(tail), 5) if tail else None,
    }


@flow(name="train-osvos-parent", log_prints=True)
def train_osvos_flow(
    root: str,
    out: str = "outputs/osvos",
    config: str = "lite",
    max_steps: int | None = None,
    resume: bool = True,
    split: str = "train",
    overrides: dict[str, Any] | None = None,
    stills: str | None = None,
    holdout_dev: bool = False,
) -> dict[str, Any]:
    """Train the OSVOS parent (``config``: ``lite`` or ``paper`` preset, ``overrides``: any
    :class:`OSVOSTrainConfig` field); the final checkpoint is ``<out>/parent``."""
    cfg = make_config(config, max_steps=max_steps, **(overrides or {}))
    info = train_parent_task(root, out, cfg.to_dict(), split, resume, stills=stills, holdout_dev=holdout_dev)
    create_table_artifact(
        [{k: v for k, v in info.items()}],
        key=artifact_key("osvos-parent", cfg.model),
        description=f"OSVOS {cfg.model} parent on DAVIS {split}",
    )
    return info
