"""The training loop of the interactive network: two stages, resumable checkpoints, metrics.

``train(config, sources, resume=..., progress=...)`` writes into ``config.out_dir``:

* ``last.{safetensors,json,state.safetensors}`` every ``checkpoint_every`` steps and at the end:
  weights, optimizer state, torch RNG and the step (resume after a kill continues from here;
  batches are keyed by step, so a resumed run sees the batches an uninterrupted one would);
* ``stage1.*`` when stage 1 ends: the frozen model whose predictions make stage-2 examples;
* ``snapshots/stepNNNNNN.*`` beside every ``last`` when ``keep_checkpoints`` (weights + config,
  the candidates that a selection on a development set chooses among);
* ``final.*`` at the end (weights + config; what ``InteractiveSegmenter.from_checkpoint`` loads);
* ``metrics.csv`` (appended every ``log_every`` steps, so it survives a kill; rows past the resumed
  step are dropped on resume) and ``metrics.parquet`` at the end. Columns: step, stage, loss,
  bce, iou_loss, lr, images_per_s, elapsed_s, skipped.

Loss: pixel-weighted binary cross-entropy (the paper's cross-entropy; weight 0 on ignore/padding)
plus ``iou_loss_weight`` x soft IoU loss. AdamW; linear warm-up then cosine decay to
``min_lr_frac`` x lr over both stages (a function of the step, so resuming needs no scheduler).
"""

from __future__ import annotations

import copy
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ivos_core.checkpoints import CheckpointError, CheckpointPaths, load_checkpoint, load_train_state, save_checkpoint
from ivos_core.data.common import Sample
from ivos_core.models import build_interactive
from ivos_core.models.interactive import InteractiveNet
from ivos_core.training.config import TrainConfig
from ivos_core.training.datasets import InteractiveTrainSet, StepBatchSampler, TrainItem

METRIC_COLUMNS = ("step", "stage", "loss", "bce", "iou_loss", "lr", "images_per_s", "elapsed_s", "skipped")


@dataclass(frozen=True)
class TrainProgress:
    """Reported to the ``progress`` callback every ``log_every`` steps."""

    step: int
    total_steps: int
    stage: int
    loss: float
    lr: float
    images_per_s: float
    elapsed_s: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did."""

    out_dir: Path
    final_checkpoint: Path | None  # None when stopped early (stop_at)
    last_checkpoint: Path
    step: int  # steps done in total (including before a resume)
    steps_run: int  # steps run by this call
    resumed_from: int | None
    final_loss: float  # mean loss of the last logged window
    images_per_s: float
    seconds: float
    skipped_samples: int
    metrics_csv: Path
    metrics_parquet: Path | None


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for ``step`` (0-based): linear warm-up, then cosine to ``min_lr_frac``."""
    total = max(1, config.total_steps)
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    t = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    t = min(max(t, 0.0), 1.0)
    lo = config.lr * config.min_lr_frac
    return lo + 0.5 * (config.lr - lo) * (1 + math.cos(math.pi * t))


def loss_fn(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, iou_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, bce, soft-IoU loss) for logits/target/weight of shape (B, 1, H, W)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp_min(1)
    p = torch.sigmoid(logits) * weight
    t = target * weight
    inter = (p * t).flatten(1).sum(1)
    union = (p + t - p * t).flatten(1).sum(1)
    iou = 1 - (inter + 1) / (union + 1)
    iou_loss = iou.mean()
    return bce + iou_weight * iou_loss, bce, iou_loss


def _collate(items: list[TrainItem]) -> TrainItem:
    return TrainItem(*(torch.stack(x) for x in zip(*items)))


def _loader(ds: InteractiveTrainSet, start: int, stop: int, config: TrainConfig) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        ds,
        batch_sampler=StepBatchSampler(start, stop, config.batch_size),
        num_workers=config.num_workers,
        collate_fn=_collate,
        prefetch_factor=2 if config.num_workers else None,
    )


def _frozen_copy(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _rewrite_metrics(path: Path, upto_step: int) -> None:
    """Keep only rows with step <= ``upto_step`` (rows logged after the resumed checkpoint go)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("step") and int(float(r["step"])) <= upto_step]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(METRIC_COLUMNS))
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in METRIC_COLUMNS} for r in rows)


def _write_parquet(csv_path: Path) -> Path | None:
    try:
        import pandas as pd

        df = pd.read_csv(csv_path)
        out = csv_path.with_suffix(".parquet")
        df.to_parquet(out, index=False)
        return out
    except Exception:  # pyarrow missing or empty file: the CSV is the record
        return None


def _load_initial_weights(model: InteractiveNet, path: str) -> None:
    """Start from a finished run's weights; a checkpoint of another network is refused by name."""
    state, doc = load_checkpoint(path, expected_kind="interactive")
    found = (doc.get("model"), doc.get("encoding"), doc.get("use_mask"))
    wanted = (model.spec.name, model.spec.encoding, model.spec.use_mask)
    if found != wanted:
        raise CheckpointError(
            f"{path}: init_from expected model/encoding/use_mask {wanted}, found {found}; "
            "continue a run of the same network or drop init_from"
        )
    model.load_state_dict(state)


def train(
    config: TrainConfig,
    sources: Sequence[Sequence[Sample]],
    *,
    resume: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
    weights: Sequence[float] | None = None,
    stop_at: int | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train the interactive network of ``config`` on ``sources`` (lists of :class:`Sample`).

    ``resume``: continue from ``<out_dir>/last`` when it exists (a checkpoint of another model or
    encoding is an error). ``stop_at``: stop after this global step without the final checkpoint
    (a simulated kill; also useful for time-boxed runs that resume later). ``weights``: sampling
    weight per source. ``device``: ``cpu``/``cuda``/``auto``.
    """
    from ivos_core.utils import flush_denormals, resolve_device

    dev = resolve_device(device)
    flush_denormals()
    torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model: InteractiveNet = build_interactive(
        config.model, encoding=config.encoding, use_mask=config.use_mask, pretrained=config.pretrained
    )
    if config.init_from is not None:
        _load_initial_weights(model, config.init_from)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    ckpt_cfg = {"kind": "interactive", "input_size": config.input_size, "encoding_kw": dict(config.encoding_kw),
                "train": config.to_dict()}

    start = 0
    resumed_from: int | None = None
    last = out / "last"
    if resume and CheckpointPaths.of(last).config.is_file():
        state, doc = load_checkpoint(last, expected_kind="interactive")
        if (doc.get("model"), doc.get("encoding"), doc.get("use_mask")) != (model.spec.name, model.spec.encoding, model.spec.use_mask):
            raise CheckpointError(
                f"{last}: resume expected model {model.spec.name!r} encoding {model.spec.encoding!r} "
                f"use_mask {model.spec.use_mask}, found {doc.get('model')!r} {doc.get('encoding')!r} {doc.get('use_mask')}"
            )
        model.load_state_dict(state)
        ts = load_train_state(last)
        if ts is None or ts.optimizer_state is None:
            raise CheckpointError(f"{last}: has no optimizer state to resume from")
        opt.load_state_dict(ts.optimizer_state)
        if ts.rng_torch is not None:
            torch.set_rng_state(ts.rng_torch)
        start = resumed_from = int(doc.get("step") or 0)
    metrics_csv = out / "metrics.csv"
    if resumed_from is None:
        metrics_csv.unlink(missing_ok=True)
    else:
        _rewrite_metrics(metrics_csv, resumed_from)

    spec = model.spec
    total = config.total_steps
    stop = total if stop_at is None else min(total, stop_at)
    skipped = 0
    t0 = time.perf_counter()
    window: list[float] = []
    final_window: list[float] = []
    last_loss = float("nan")
    win_t, win_n = time.perf_counter(), 0
    ips = 0.0

    def save_last(step: int) -> None:
        save_checkpoint(last, model, ckpt_cfg, step=step, optimizer_state=opt.state_dict(),
                        rng_state=torch.get_rng_state(), train_extra={"stage": 1 if step < config.stage1_steps else 2})

    step = start
    for stage, (s0, s1) in ((1, (0, config.stage1_steps)), (2, (config.stage1_steps, total))):
        lo, hi = max(s0, start), min(s1, stop)
        if lo >= hi:
            continue
        stage1_model = None
        if stage == 2:
            s1path = out / "stage1"
            if not CheckpointPaths.of(s1path).config.is_file():
                save_checkpoint(s1path, model, {**ckpt_cfg, "stage": 1}, step=config.stage1_steps)
            st, _ = load_checkpoint(s1path, expected_kind="interactive")
            stage1_model = _frozen_copy(model)
            stage1_model.load_state_dict(st)
            stage1_model.cpu()
        ds = InteractiveTrainSet(sources, config, spec, stage=stage, weights=weights, stage1_model=stage1_model)
        model.train()
        for batch in _loader(ds, lo, hi, config):
            lr = lr_at(step, config)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y, w = batch.inputs.to(dev), batch.target.to(dev), batch.weight.to(dev)
            logits = model(x)
            loss, bce, iou = loss_fn(logits, y, w, config.iou_loss_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            skipped += int(batch.skipped.sum())
            last_loss = float(loss.detach())
            window.append(last_loss)
            win_n += x.shape[0]
            if step % config.log_every == 0 or step == stop:
                now = time.perf_counter()
                ips = win_n / max(1e-9, now - win_t)
                win_t, win_n = now, 0
                row = {"step": step, "stage": stage, "loss": sum(window) / len(window), "bce": float(bce.detach()),
                       "iou_loss": float(iou.detach()), "lr": lr, "images_per_s": ips, "elapsed_s": now - t0, "skipped": skipped}
                new = not metrics_csv.is_file()
                with metrics_csv.open("a", newline="") as f:
                    wr = csv.DictWriter(f, fieldnames=list(METRIC_COLUMNS))
                    if new:
                        wr.writeheader()
                    wr.writerow(row)
                if progress is not None:
                    progress(TrainProgress(step, total, stage, row["loss"], lr, ips, now - t0))
                final_window = window
                window = []
            if step % config.checkpoint_every == 0 and step < stop:
                save_last(step)
                if config.keep_checkpoints:  # weights only: the candidates a dev set chooses among
                    save_checkpoint(out / "snapshots" / f"step{step:06d}", model, ckpt_cfg, step=step)
            if stage == 1 and step == config.stage1_steps:
                save_checkpoint(out / "stage1", model, {**ckpt_cfg, "stage": 1}, step=step)
    save_last(step)
    final = None
    if step >= total:
        final = save_checkpoint(out / "final", model, ckpt_cfg, step=step).base
    seconds = time.perf_counter() - t0
    fw = final_window or window
    return TrainResult(
        out_dir=out,
        final_checkpoint=final,
        last_checkpoint=last,
        step=step,
        steps_run=step - start,
        resumed_from=resumed_from,
        final_loss=(sum(fw) / len(fw)) if fw else last_loss,
        images_per_s=((step - start) * config.batch_size / seconds) if seconds > 0 else 0.0,
        seconds=seconds,
        skipped_samples=skipped,
        metrics_csv=metrics_csv,
        metrics_parquet=_write_parquet(metrics_csv) if metrics_csv.is_file() else None,
    )
