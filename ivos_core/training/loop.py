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
plus ``iou_loss_weight`` x soft IoU loss. With ``boundary_weight`` > 0 the cross-entropy weighs the
pixels within ``boundary_radius`` of the target's boundary (1 + ``boundary_weight``) times: NoC@90
is decided at the boundary, where the network's masks are blurry. AdamW; linear warm-up then cosine decay to
``min_lr_frac`` x lr over both stages (a function of the step, so resuming needs no scheduler).
"""

from __future__ import annotations

import copy
import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ivos_core.checkpoints import CheckpointError, CheckpointPaths, load_checkpoint, load_train_state, save_checkpoint
from ivos_core.data.common import Sample
from ivos_core.models import build_interactive
from ivos_core.models.interactive import InteractiveNet
from ivos_core.protocols import TrainProgress
from ivos_core.training.config import TrainConfig
from ivos_core.training.datasets import InteractiveTrainSet, StepBatchSampler, TrainItem

METRIC_COLUMNS = ("step", "stage", "loss", "bce", "iou_loss", "lr", "images_per_s", "elapsed_s", "skipped")


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


def boundary_band(target: torch.Tensor, radius: int) -> torch.Tensor:
    """1 where a pixel lies within ``radius`` pixels (chessboard) of the 0/1 target's boundary."""
    k = 2 * radius + 1
    dilated = F.max_pool2d(target, k, stride=1, padding=radius)
    eroded = -F.max_pool2d(-target, k, stride=1, padding=radius)
    return dilated - eroded


def loss_fn(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, iou_weight: float,
            boundary_weight: float = 0.0, boundary_radius: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, bce, soft-IoU loss) for logits/target/weight of shape (B, 1, H, W). The boundary
    emphasis changes only the cross-entropy's pixel weights; the soft IoU keeps ``weight``."""
    bce_w = weight * (1 + boundary_weight * boundary_band(target, boundary_radius)) if boundary_weight > 0 else weight
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=bce_w, reduction="sum") / bce_w.sum().clamp_min(1)
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


def _resume(last: Path, model: InteractiveNet, opt: torch.optim.Optimizer) -> int:
    """Load ``last`` into ``model`` and ``opt`` and restore the torch RNG, so the resumed run
    continues exactly where the killed one stopped; returns the step. A checkpoint of another
    network, or one without optimizer state, is an error rather than a silent fresh start."""
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
    return int(doc.get("step") or 0)


def _append_metrics(metrics_csv: Path, row: dict[str, float | int]) -> None:
    """Append one row (header first in a new file): appending keeps the log across a kill."""
    new = not metrics_csv.is_file()
    with metrics_csv.open("a", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(METRIC_COLUMNS))
        if new:
            wr.writeheader()
        wr.writerow(row)


@dataclass
class _Run:
    """One call of :func:`train`: the fixed parts the step loop needs and its running counters
    (kept together so the stages can be run by helpers without a dozen loose locals)."""

    config: TrainConfig
    model: InteractiveNet
    opt: torch.optim.Optimizer
    out: Path
    ckpt_cfg: dict
    dev: torch.device
    progress: Callable[[TrainProgress], None] | None
    start: int
    stop: int
    metrics_csv: Path
    step: int = 0
    skipped: int = 0
    window: list[float] = field(default_factory=list)
    final_window: list[float] = field(default_factory=list)
    last_loss: float = float("nan")
    t0: float = field(default_factory=time.perf_counter)
    win_t: float = field(default_factory=time.perf_counter)
    win_n: int = 0

    @property
    def last(self) -> Path:
        return self.out / "last"

    def save_last(self, step: int) -> None:
        """The resumable checkpoint: weights, optimizer state, torch RNG and the step."""
        save_checkpoint(self.last, self.model, self.ckpt_cfg, step=step, optimizer_state=self.opt.state_dict(),
                        rng_state=torch.get_rng_state(), train_extra={"stage": 1 if step < self.config.stage1_steps else 2})

    def stage1_model(self) -> nn.Module:
        """The frozen stage-1 model whose predictions make the stage-2 examples (saved first when
        the run reaches stage 2 without one, e.g. a stage-2-only run)."""
        s1path = self.out / "stage1"
        if not CheckpointPaths.of(s1path).config.is_file():
            save_checkpoint(s1path, self.model, {**self.ckpt_cfg, "stage": 1}, step=self.config.stage1_steps)
        st, _ = load_checkpoint(s1path, expected_kind="interactive")
        frozen = _frozen_copy(self.model)
        frozen.load_state_dict(st)
        frozen.cpu()
        return frozen

    def run_stage(self, stage: int, lo: int, hi: int, sources: Sequence[Sequence[Sample]],
                  weights: Sequence[float] | None) -> None:
        """Steps ``lo``..``hi`` of ``stage``: batches keyed by step, so a resumed run sees the
        batches an uninterrupted one would."""
        config = self.config
        stage1_model = self.stage1_model() if stage == 2 else None
        ds = InteractiveTrainSet(sources, config, self.model.spec, stage=stage, weights=weights, stage1_model=stage1_model)
        self.model.train()
        for batch in _loader(ds, lo, hi, config):
            lr = lr_at(self.step, config)
            for g in self.opt.param_groups:
                g["lr"] = lr
            x, y, w = batch.inputs.to(self.dev), batch.target.to(self.dev), batch.weight.to(self.dev)
            logits = self.model(x)
            loss, bce, iou = loss_fn(logits, y, w, config.iou_loss_weight, config.boundary_weight,
                                     config.boundary_radius)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            self.skipped += int(batch.skipped.sum())
            self.last_loss = float(loss.detach())
            self.window.append(self.last_loss)
            self.win_n += x.shape[0]
            if self.step % config.log_every == 0 or self.step == self.stop:
                self.log(stage, lr, bce, iou)
            self.checkpoint(stage)

    def log(self, stage: int, lr: float, bce: torch.Tensor, iou: torch.Tensor) -> None:
        """One metrics row (mean loss of the window since the last row) and a progress report."""
        now = time.perf_counter()
        ips = self.win_n / max(1e-9, now - self.win_t)
        self.win_t, self.win_n = now, 0
        row = {"step": self.step, "stage": stage, "loss": sum(self.window) / len(self.window), "bce": float(bce.detach()),
               "iou_loss": float(iou.detach()), "lr": lr, "images_per_s": ips, "elapsed_s": now - self.t0,
               "skipped": self.skipped}
        _append_metrics(self.metrics_csv, row)
        if self.progress is not None:
            self.progress(TrainProgress(self.step, self.config.total_steps, row["loss"], now - self.t0, stage=stage, lr=lr,
                                        images_per_s=ips))
        self.final_window = self.window
        self.window = []

    def checkpoint(self, stage: int) -> None:
        """``last`` (and a snapshot) every ``checkpoint_every`` steps; ``stage1`` when stage 1 ends."""
        config, step = self.config, self.step
        if step % config.checkpoint_every == 0 and step < self.stop:
            self.save_last(step)
            if config.keep_checkpoints:  # weights only: the candidates a dev set chooses among
                save_checkpoint(self.out / "snapshots" / f"step{step:06d}", self.model, self.ckpt_cfg, step=step)
        if stage == 1 and step == config.stage1_steps:
            save_checkpoint(self.out / "stage1", self.model, {**self.ckpt_cfg, "stage": 1}, step=step)

    def result(self, resumed_from: int | None) -> TrainResult:
        """Save ``last`` (and ``final`` when every step is done) and summarise the call."""
        self.save_last(self.step)
        step, config = self.step, self.config
        final = None
        if step >= config.total_steps:
            final = save_checkpoint(self.out / "final", self.model, self.ckpt_cfg, step=step).base
        seconds = time.perf_counter() - self.t0
        fw = self.final_window or self.window
        return TrainResult(
            out_dir=self.out,
            final_checkpoint=final,
            last_checkpoint=self.last,
            step=step,
            steps_run=step - self.start,
            resumed_from=resumed_from,
            final_loss=(sum(fw) / len(fw)) if fw else self.last_loss,
            images_per_s=((step - self.start) * config.batch_size / seconds) if seconds > 0 else 0.0,
            seconds=seconds,
            skipped_samples=self.skipped,
            metrics_csv=self.metrics_csv,
            metrics_parquet=_write_parquet(self.metrics_csv) if self.metrics_csv.is_file() else None,
        )


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
        start = resumed_from = _resume(last, model, opt)
    metrics_csv = out / "metrics.csv"
    if resumed_from is None:
        metrics_csv.unlink(missing_ok=True)
    else:
        _rewrite_metrics(metrics_csv, resumed_from)

    total = config.total_steps
    stop = total if stop_at is None else min(total, stop_at)
    run = _Run(config=config, model=model, opt=opt, out=out, ckpt_cfg=ckpt_cfg, dev=dev, progress=progress,
               start=start, stop=stop, metrics_csv=metrics_csv, step=start)
    for stage, (s0, s1) in ((1, (0, config.stage1_steps)), (2, (config.stage1_steps, total))):
        lo, hi = max(s0, start), min(s1, stop)
        if lo >= hi:
            continue
        run.run_stage(stage, lo, hi, sources, weights)
    return run.result(resumed_from)
