"""One-shot fine-tuning of OSVOS on a video (paper: 500 steps): :func:`finetune` trains a network on
the annotated frames of one video with flips, scale, small rotations and translations, applied as
one batched affine warp (``grid_sample``) so augmentation costs nothing next to the network. Its
loss (:func:`_loss`: class-balanced, fused output plus side outputs) and progress reports
(:class:`ivos_core.protocols.TrainProgress`, the record of every training loop) are shared with
parent training (:mod:`ivos_core.training.osvos_parent`).

Frames are RGB ``uint8`` ``(H, W, 3)``; masks ``bool`` ``(H, W)``. Devices: ``"cpu"``,
``"cuda"`` or ``"auto"``; AMP (bfloat16) and channels-last on CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ivos_core.models.osvos import class_balanced_bce
from ivos_core.protocols import TrainProgress
from ivos_core.utils import flush_denormals, resolve_device

__all__ = ["FinetuneConfig", "TrainProgress", "TrainProgressFn", "default_lr", "finetune"]

TrainProgressFn = Callable[[TrainProgress], None]
"""``progress(TrainProgress)`` after fine-tuning / training steps (not the library's
``(done, total, label)`` :data:`ivos_core.protocols.ProgressFn`: a different contract, hence the name)."""


def default_lr(model: nn.Module) -> float:
    """Adam learning rate for fine-tuning: the VGG (no BatchNorm) needs a much smaller one."""
    return 2e-5 if getattr(model, "name", "") == "paper" else 1e-3


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _pool_target(
    y: torch.Tensor, valid: torch.Tensor | None, hw: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``y`` area-pooled to ``hw``; with ``valid``: the mean of ``y`` over the valid pixels of each
    cell, and the cell's valid share as its weight."""
    if valid is None:
        return F.adaptive_avg_pool2d(y, hw), None
    share = F.adaptive_avg_pool2d(valid, hw)
    return F.adaptive_avg_pool2d(y * valid, hw) / share.clamp_min(1e-6), share


def _loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, side_weight: float, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Class-balanced loss of the fused output plus ``side_weight`` x each side output.

    Side outputs smaller than the target are supervised with the area-pooled (soft) target
    (:func:`_pool_target`: with a ``valid`` mask, pooled over the valid pixels only and weighted
    by their share, so a label outside it reaches no output).
    """
    if side_weight > 0 and hasattr(model, "forward_sides"):
        fused, sides = model.forward_sides(x, full_size_sides=False)
        loss = class_balanced_bce(fused, y, valid=valid)
        pooled: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor | None]] = {}
        for s in sides:
            hw = tuple(s.shape[-2:])
            if hw != tuple(y.shape[-2:]) and hw not in pooled:
                pooled[hw] = _pool_target(y, valid, hw)
            ys, vs = pooled.get(hw, (y, valid))
            loss = loss + side_weight * class_balanced_bce(s, ys, valid=vs)
        return loss
    return class_balanced_bce(model(x), y, valid=valid)


@dataclass(frozen=True)
class FinetuneConfig:
    """Augmentation ranges of :func:`finetune` (defaults are OSVOS-like, mild)."""

    scale: tuple[float, float] = (0.8, 1.2)
    rotation_deg: float = 10.0
    translation: float = 0.05
    flip: bool = True

    @classmethod
    def scaled(cls, strength: float) -> "FinetuneConfig":
        """The default ranges times ``strength`` (scale ``1 -/+ 0.2 strength``, rotation
        ``10 strength`` degrees, translation ``0.05 strength``; flips always): one knob for how
        far the annotated frame is pushed towards the object's later appearances."""
        a = float(strength)
        if not 0 <= a <= 4:
            raise ValueError(f"augmentation strength must be in [0, 4], got {strength}")
        return cls(scale=(1.0 - 0.2 * a, 1.0 + 0.2 * a), rotation_deg=10.0 * a, translation=0.05 * a)


def _random_affine(
    rng: np.random.Generator,
    n: int,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    aug: FinetuneConfig | None,
) -> torch.Tensor:
    """(n, 2, 3) ``affine_grid`` matrices mapping an ``out_hw`` window into an ``in_hw`` frame.

    Built in pixel units (so rotations are not sheared by the aspect ratio): an output pixel
    offset ``u`` from the window centre samples the input at ``c + R(theta) S u``.
    """
    H, W = in_hw
    h, w = out_hw
    mats = np.zeros((n, 2, 3), np.float32)
    for k in range(n):
        if aug is None:
            s, th, flip, tx, ty = 1.0, 0.0, 1.0, 0.0, 0.0
        else:
            s = float(np.exp(rng.uniform(math.log(aug.scale[0]), math.log(aug.scale[1]))))
            th = math.radians(float(rng.uniform(-aug.rotation_deg, aug.rotation_deg)))
            flip = -1.0 if (aug.flip and rng.random() < 0.5) else 1.0
            tx = float(rng.uniform(-aug.translation, aug.translation)) * W
            ty = float(rng.uniform(-aug.translation, aug.translation)) * H
        # window centre: random where the window is smaller than the frame
        cx = tx + (float(rng.uniform(-(W - w / s) / 2, (W - w / s) / 2)) if w / s < W else 0.0)
        cy = ty + (float(rng.uniform(-(H - h / s) / 2, (H - h / s) / 2)) if h / s < H else 0.0)
        rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        lin = np.diag([2.0 / W, 2.0 / H]) @ rot @ np.diag([flip / s, 1.0 / s]) @ np.diag([w / 2.0, h / 2.0])
        mats[k, :, :2] = lin
        mats[k, :, 2] = [2.0 * cx / W, 2.0 * cy / H]
    return torch.from_numpy(mats)


def _to_tensors(
    frames: Sequence[np.ndarray] | np.ndarray, masks: Sequence[np.ndarray] | np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    frames = [np.asarray(f) for f in frames]
    masks = [np.asarray(m) for m in masks]
    if not frames:
        raise ValueError("finetune needs at least one annotated frame")
    if len(frames) != len(masks):
        raise ValueError(f"finetune got {len(frames)} frames but {len(masks)} masks")
    shape = frames[0].shape
    for i, (f, m) in enumerate(zip(frames, masks)):
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise ValueError(f"training frame {i}: expected (H, W, 3) uint8 RGB, got {f.shape} {f.dtype}")
        if f.shape != shape:
            raise ValueError(f"training frame {i} has shape {f.shape}, frame 0 has {shape}")
        if m.shape != f.shape[:2]:
            raise ValueError(f"training mask {i} has shape {m.shape}, its frame is {f.shape[:2]}")
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    y = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
    return x.to(device), y.to(device)


def _valid_tensor(valid: Sequence[np.ndarray] | None, x_all: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    if valid is None:
        return None
    if len(valid) != len(x_all) or any(np.shape(v) != tuple(x_all.shape[-2:]) for v in valid):
        raise ValueError("finetune: valid needs one (H, W) mask per frame")
    return torch.from_numpy(np.stack([np.asarray(v, dtype=np.float32) for v in valid]))[:, None].to(device)


def finetune(
    model: nn.Module,
    frames: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int = 500,
    lr: float | None = None,
    augment: bool | FinetuneConfig = True,
    batch_size: int = 1,
    crop: tuple[int, int] | None = None,
    side_weight: float = 0.5,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: TrainProgressFn | None = None,
    freeze_bn: bool = False,
    valid: Sequence[np.ndarray] | None = None,
) -> nn.Module:
    """One-shot fine-tuning of ``model`` on annotated frames (in place; returns the model).

    ``frames``: K arrays (H, W, 3) uint8 RGB; ``masks``: K arrays (H, W) bool. Every step draws
    ``batch_size`` of them (with replacement), warps each with a random flip, scale, rotation
    (``±rotation_deg``) and translation, optionally into a ``crop`` = (h, w) window, and takes an
    Adam step on the class-balanced loss (fused + ``side_weight`` x side outputs). ``lr`` defaults
    to :func:`default_lr`; it decays with a cosine to a tenth. ``freeze_bn``: BatchNorm layers
    normalise with the parent's running statistics and do not update them (their affine
    weights still train). ``valid``: per frame, a (H, W) bool mask of the pixels whose label
    counts (None: all) - online adaptation's own masks leave their uncertain boundary out.
    The model is left in eval mode on ``device``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    dev = resolve_device(device)
    x_all, y_all = _to_tensors(frames, masks, dev)
    v_all = _valid_tensor(valid, x_all, dev)
    if not bool(y_all.any()):
        raise ValueError("finetune: every annotated mask is empty; the object must be visible in one")
    model.to(dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)
    aug = (augment if isinstance(augment, FinetuneConfig) else FinetuneConfig()) if augment else None
    lr = default_lr(model) if lr is None else float(lr)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1)))
    )
    flush_denormals()  # decayed weights in the denormal range slow CPU arithmetic many times over
    rng = np.random.default_rng(seed)
    H, W = x_all.shape[-2:]
    out_hw = (min(crop[0], H), min(crop[1], W)) if crop else (H, W)
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(x_all), size=batch_size)).to(dev)
        x, y = x_all[idx], y_all[idx]
        v = None if v_all is None else v_all[idx]
        if aug is not None or out_hw != (H, W):
            theta = _random_affine(rng, batch_size, (H, W), out_hw, aug).to(dev)
            grid = F.affine_grid(theta, [batch_size, 1, *out_hw], align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
            y = (F.grid_sample(y, grid, mode="bilinear", padding_mode="reflection", align_corners=False) > 0.5).float()
            if v is not None:
                v = (F.grid_sample(v, grid, mode="bilinear", padding_mode="reflection", align_corners=False) > 0.5).float()
        if dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(dev):
            loss = _loss(model, x, y, side_weight, v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(TrainProgress(step + 1, steps, float(loss.detach()), time.perf_counter() - t0))
    model.eval()
    return model
