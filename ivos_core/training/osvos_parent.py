"""OSVOS parent training (paper §2.2): :func:`train_parent` trains an OSVOS network (``lite`` or
``paper``) on all annotated frames of a list of sequences (random scale, crop and horizontal flip),
with the class-balanced loss on the fused output plus the side outputs (deep supervision). It
writes resumable checkpoints through :mod:`ivos_core.checkpoints` (kind ``"osvos"``):
``<out_dir>/last`` every ``checkpoint_every`` steps and ``<out_dir>/parent`` at the end. Batches
are drawn from a generator seeded with ``(seed, step)``, so a resumed run sees the same batches as
an uninterrupted one. :func:`load_parent` loads such a checkpoint. The one-shot fine-tuning on a
video is :func:`ivos_core.video.finetune.finetune`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import nn

from ivos_core.models.osvos import OSVOS_NAMES, build_osvos
from ivos_core.protocols import TrainProgress
from ivos_core.users.videos import ArrayVideo
from ivos_core.utils import flush_denormals, resolve_device
from ivos_core.video.finetune import TrainProgressFn, _autocast, _loss

__all__ = [
    "CHECKPOINT_KIND",
    "ArraySequence",
    "OSVOSTrainConfig",
    "ParentTrainResult",
    "SequenceLike",
    "StaticImageSequence",
    "load_parent",
    "parent_training_sequences",
    "register_checkpoint_builder",
    "train_parent",
]

CHECKPOINT_KIND = "osvos"


class SequenceLike(Protocol):
    """What parent training reads: ``len(seq)`` frames, ``frame(i)`` RGB uint8, ``mask(i)`` bool."""

    def __len__(self) -> int: ...

    def frame(self, i: int) -> np.ndarray: ...

    def mask(self, i: int) -> np.ndarray: ...


class ArraySequence(ArrayVideo):
    """An in-memory sequence for parent training: the one in-memory video,
    :class:`~ivos_core.users.videos.ArrayVideo` (``frames`` (T, H, W, 3) uint8, ``masks`` (T, H, W)
    bool), constructed name first as parent-training code has always called it."""

    def __init__(self, name: str, frames: np.ndarray, masks: np.ndarray) -> None:
        super().__init__(frames, masks, name)


@dataclass
class OSVOSTrainConfig:
    """Parent training settings (defaults: a CPU-sized run of the ``lite`` network).

    ``crop``: square training crop in pixels; ``scale_range``: frames are resized by a factor
    drawn from it before cropping (1.0 = DAVIS 480p). ``object_crop_p``: probability that a crop
    is centred on a random object pixel (else anywhere). ``pretrained``: a local weight file for
    the backbone (see :func:`ivos_core.models.osvos.build_osvos`).
    """

    model: str = "lite"
    steps: int = 2000
    batch_size: int = 8
    crop: int = 256
    lr: float | None = None
    weight_decay: float = 1e-4
    scale_range: tuple[float, float] = (0.5, 1.0)
    flip: bool = True
    object_crop_p: float = 0.7
    side_weight: float = 0.5
    seed: int = 0
    checkpoint_every: int = 200
    device: str = "auto"
    pretrained: str | None = None
    #: also keep ``snapshots/stepNNNNNN`` (weights only) at every checkpoint, to choose among them
    #: on the video development sequences
    keep_snapshots: bool = False
    #: DAVIS sequences left out of training, recorded in the checkpoint's config so that a video
    #: selection can check it develops on sequences this parent never saw (a cross-validation fold)
    held_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.held_out = tuple(sorted(dict.fromkeys(str(s) for s in self.held_out)))
        if self.model not in OSVOS_NAMES:
            raise ValueError(f"OSVOSTrainConfig.model must be one of {OSVOS_NAMES}, got {self.model!r}")
        for name in ("steps", "batch_size", "crop", "checkpoint_every"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"OSVOSTrainConfig.{name} must be > 0, got {getattr(self, name)}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"OSVOSTrainConfig.scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        self.scale_range = (float(lo), float(hi))

    def effective_lr(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 1e-4 if self.model == "paper" else 2e-3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scale_range"] = list(self.scale_range)
        d["held_out"] = list(self.held_out)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OSVOSTrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "scale_range" in known:
            known["scale_range"] = tuple(known["scale_range"])
        if "held_out" in known:
            known["held_out"] = tuple(known["held_out"] or ())
        return cls(**known)


@dataclass
class ParentTrainResult:
    """What :func:`train_parent` did: the final checkpoint, steps run now, the loss curve."""

    checkpoint: Path
    steps: int
    start_step: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    n_frames: int = 0

    @property
    def resumed(self) -> bool:
        return self.start_step > 0


class StaticImageSequence:
    """One annotated still image as a one-frame sequence, so object datasets (COCO_MVal train)
    can train the parent beside DAVIS videos: the random scale, crop and flip of parent training
    make it look like a frame of a short clip. ``sample``: anything with ``image`` / ``mask``."""

    def __init__(self, dataset: Sequence[Any], index: int) -> None:
        self.dataset, self.index = dataset, index
        self.name = f"still/{index}"

    def __len__(self) -> int:
        return 1

    def frame(self, i: int) -> np.ndarray:
        return self.dataset[self.index].image

    def mask(self, i: int) -> np.ndarray:
        return np.asarray(self.dataset[self.index].mask, dtype=bool)


def parent_training_sequences(
    davis_root: str | Path,
    *,
    stills_root: str | Path | None = None,
    holdout: Sequence[str] = (),
    split: str = "train",
    year: int = 2016,
) -> list[SequenceLike]:
    """The DAVIS ``split`` sequences minus ``holdout`` (e.g. the video development sequences) and,
    with ``stills_root`` (a COCO_MVal folder), every ``train.txt`` instance as a one-frame
    sequence - never ``dev.txt``, which is for choosing settings."""
    from ivos_core.data import DavisDataset
    from ivos_core.data.coco_mval import CocoMValDataset
    from ivos_core.training.datasets import CachedSource

    held = set(holdout)
    seqs: list[SequenceLike] = [s for s in DavisDataset(davis_root, year=year, split=split) if s.name not in held]
    if stills_root is not None:
        coco = CachedSource(CocoMValDataset(stills_root, "train"), max_side=480)
        seqs.extend(StaticImageSequence(coco, i) for i in range(len(coco)))
    return seqs


def _frame_index(sequences: Sequence[SequenceLike]) -> list[tuple[int, int]]:
    """All (sequence, frame) pairs that have a mask (DAVIS-2016 train: every frame)."""
    out = []
    for si, seq in enumerate(sequences):
        has = getattr(seq, "has_mask", None)
        for fi in range(len(seq)):
            if has is None or has(fi):
                out.append((si, fi))
    if not out:
        raise ValueError("train_parent: the sequences hold no annotated frames")
    return out


def _sample_crop(
    rng: np.random.Generator, frame: np.ndarray, mask: np.ndarray, cfg: OSVOSTrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale, crop (reflect-padded when the frame is smaller) and flip of one pair."""
    s = float(rng.uniform(*cfg.scale_range))
    h, w = frame.shape[:2]
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    m = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
    c = cfg.crop
    if nh < c or nw < c:
        ph, pw = max(0, c - nh), max(0, c - nw)
        pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        img = np.pad(img, pad + ((0, 0),), mode="reflect" if min(nh, nw) > 1 else "edge")
        m = np.pad(m, pad, mode="reflect" if min(nh, nw) > 1 else "edge")
        nh, nw = m.shape
    ys, xs = np.nonzero(m)
    if len(ys) and rng.random() < cfg.object_crop_p:
        k = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[k] - c // 2, 0, nh - c))
        x0 = int(np.clip(xs[k] - c // 2, 0, nw - c))
    else:
        y0 = int(rng.integers(0, nh - c + 1))
        x0 = int(rng.integers(0, nw - c + 1))
    img = img[y0 : y0 + c, x0 : x0 + c]
    m = m[y0 : y0 + c, x0 : x0 + c]
    if cfg.flip and rng.random() < 0.5:
        img, m = img[:, ::-1], m[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(m)


def _batch(
    step: int, cfg: OSVOSTrainConfig, sequences: Sequence[SequenceLike], index: list[tuple[int, int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng([cfg.seed, step])
    xs, ys = [], []
    for k in rng.integers(0, len(index), size=cfg.batch_size):
        si, fi = index[int(k)]
        seq = sequences[si]
        frame, mask = seq.frame(fi), np.asarray(seq.mask(fi), dtype=bool)
        if frame.shape[:2] != mask.shape:
            name = getattr(seq, "name", f"sequence {si}")
            raise ValueError(f"{name} frame {fi}: frame {frame.shape[:2]} and mask {mask.shape} differ in size")
        img, m = _sample_crop(rng, frame, mask, cfg)
        xs.append(img)
        ys.append(m)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float().div_(255.0)
    y = torch.from_numpy(np.stack(ys).astype(np.float32))[:, None]
    return x, y


def _ckpt():
    from ivos_core import checkpoints

    return checkpoints


def _save(path: Path, model: nn.Module, cfg: OSVOSTrainConfig, step: int, opt: torch.optim.Optimizer | None) -> None:
    config = {"kind": CHECKPOINT_KIND, "model": cfg.model, "train": cfg.to_dict()}
    _ckpt().save_checkpoint(
        path,
        model,
        config,
        step=step,
        optimizer_state=None if opt is None else opt.state_dict(),
        train_extra=None if opt is None else {"data_rng": "seeded by (seed, step)"},
    )


def _checkpoint(out: Path, model: nn.Module, config: OSVOSTrainConfig, done: int, opt: torch.optim.Optimizer) -> None:
    """Every ``checkpoint_every`` steps: the resumable ``last`` (and a weights-only snapshot)."""
    if done % config.checkpoint_every == 0 and done < config.steps:
        _save(out / "last", model, config, done, opt)
        if config.keep_snapshots:
            _save(out / "snapshots" / f"step{done:06d}", model, config, done, None)


def load_parent(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Build the network a ``kind="osvos"`` checkpoint describes and load its weights (eval mode)."""
    register_checkpoint_builder()
    flush_denormals()  # a trained parent holds denormal weights: without this its CPU math crawls
    model, _ = _ckpt().load_model(path, CHECKPOINT_KIND)
    _zero_denormals(model)
    return model.to(resolve_device(device)).eval()


def _zero_denormals(model: nn.Module) -> int:
    """Set the weights below the smallest normal float to 0 (returns how many): the flush mode is
    per thread, so intra-op worker threads would still meet them."""
    n = 0
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.dtype == torch.float32:  # by the bits: with the flush mode on, comparisons see them as 0
                bits = t.view(torch.int32) & 0x7FFFFFFF
                tiny = (bits != 0) & (bits < 0x00800000)
                n += int(tiny.sum())
                t.view(torch.int32)[tiny] = 0
    return n


def _build_from_doc(doc: dict[str, Any]) -> nn.Module:
    name = doc.get("model")
    if name not in OSVOS_NAMES:
        raise _ckpt().CheckpointError(f"checkpoint names OSVOS model {name!r}; this ivos builds {OSVOS_NAMES}")
    return build_osvos(name, imagenet=False)


def register_checkpoint_builder() -> None:
    """Let :func:`ivos_core.checkpoints.load_model` build ``kind="osvos"`` checkpoints."""
    _ckpt().register_model_builder(CHECKPOINT_KIND, _build_from_doc)


def train_parent(
    config: OSVOSTrainConfig,
    sequences: Sequence[SequenceLike],
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: TrainProgressFn | None = None,
) -> ParentTrainResult:
    """Train the OSVOS parent network; checkpoints go to ``out_dir`` (``last``, then ``parent``).

    ``sequences``: DAVIS train sequences (:class:`ivos_core.data.DavisSequence`) or any
    :class:`SequenceLike`. With ``resume`` and an existing ``<out_dir>/last`` checkpoint, the
    weights, optimizer state and step are restored and training continues to ``config.steps``;
    a checkpoint of a different model name is an error. Returns a :class:`ParentTrainResult`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(config.device)
    flush_denormals()  # Adam's L2 decay drives unused weights into the (slow) denormal range
    index = _frame_index(sequences)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_osvos(config.model, pretrained=config.pretrained)
    model.to(dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.effective_lr(), weight_decay=config.weight_decay)
    last = out / "last"
    start = 0
    if resume and Path(str(last) + ".json").is_file():
        state, saved = _ckpt().load_checkpoint(last, expected_kind=CHECKPOINT_KIND)
        if saved.get("model") != config.model:
            raise ValueError(
                f"{last}: checkpoint is OSVOS {saved.get('model')!r} but the config asks for {config.model!r}; "
                "use another out_dir or resume=False"
            )
        model.load_state_dict(state, strict=True)
        start = min(int(saved.get("step") or 0), config.steps)
        train_state = _ckpt().load_train_state(last)
        if train_state is not None and train_state.optimizer_state is not None:
            opt.load_state_dict(train_state.optimizer_state)
    (out / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")

    def lr_at(step: int) -> float:  # cosine decay to a tenth; a function of the step -> resumable
        return config.effective_lr() * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))

    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(start, config.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = _batch(step, config, sequences, index)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        if dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(dev):
            loss = _loss(model, x, y, config.side_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        done = step + 1
        _checkpoint(out, model, config, done, opt)
        if progress is not None:
            progress(TrainProgress(done, config.steps, losses[-1], time.perf_counter() - t0))
    model.eval()
    _save(last, model, config, config.steps, opt)
    final = out / "parent"
    _save(final, model, config, config.steps, None)
    return ParentTrainResult(
        checkpoint=final,
        steps=config.steps - start,
        start_step=start,
        losses=losses,
        seconds=time.perf_counter() - t0,
        n_frames=len(index),
    )
