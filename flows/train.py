"""Prefect flow ``train-interactive``: two-stage training of the interactive network.

Thin: the work is :func:`ivos_core.training.train`. Checkpoints are written every
``checkpoint_every`` steps, so a retried or re-run flow with ``resume=True`` continues where the
killed one stopped instead of starting over.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.progress import FlowProgress, artifact_key


@task(name="train-interactive-model", retries=1, tags=["gpu"])
def train_task(
    config: str,
    data: str,
    out: str,
    steps: int | None,
    encoding: str | None,
    use_mask: bool,
    resume: bool,
    synthetic: int,
    device: str,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from ivos_core.training import default_sources, preset, train

    over: dict[str, Any] = {**(overrides or {}), "out_dir": out, "use_mask": use_mask}
    if encoding:
        over["encoding"] = encoding
    cfg = preset(config, **over)
    if steps is not None:
        cfg = cfg.with_total_steps(steps)
    sources = default_sources(data or None, n_synthetic=synthetic)
    bar = FlowProgress(artifact_key("train", config, cfg.encoding, "mask" if use_mask else "nomask"), f"training {config}")

    def progress(p) -> None:
        bar(p.step, p.total_steps, f"stage {p.stage} loss {p.loss:.3f}")

    # resume is always safe: a fresh output folder simply starts at step 0
    res = train(cfg, sources.sources, weights=sources.weights, resume=resume, progress=progress, device=device)
    return {k: (str(v) if v is not None and not isinstance(v, (int, float, bool)) else v) for k, v in res.__dict__.items()}


@flow(name="train-interactive", log_prints=True)
def train_interactive_flow(
    config: str = "lite",
    data: str = "",
    out: str = "runs/interactive-lite",
    steps: int | None = None,
    encoding: str | None = None,
    use_mask: bool = True,
    resume: bool = True,
    synthetic: int = 2000,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``config`` (lite|paper) on BSDS500 + DAVIS train + synthetic under ``data``;
    ``overrides`` sets any :class:`~ivos_core.training.TrainConfig` field (e.g. ``crop_size``)."""
    result = train_task(config, data, out, steps, encoding, use_mask, resume, synthetic, device, overrides)
    create_table_artifact([{"key": k, "value": str(v)} for k, v in result.items()], key=artifact_key("train-result", config))
    print(f"trained {config}: {result}")
    return result
