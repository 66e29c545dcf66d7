"""OSVOS networks (Caelles et al., CVPR 2017) and their class-balanced loss.

Two configurations, built by name with :func:`build_osvos`:

* ``paper``: VGG-16 (torchvision ``vgg16().features``, fully-connected layers dropped). Side
  outputs after stages 2, 3, 4 and 5 (a 3x3 conv to 16 channels each) are bilinearly upsampled
  to the input size, concatenated and fused by a 1x1 conv into one logit map, as in OSVOS.
  ImageNet weights are used when torchvision's weight file is already in the local torch hub
  cache (never downloaded), or from a local file given as ``pretrained``; otherwise the network
  starts from scratch.
* ``lite``: a small CPU network (~0.9 M parameters) with the same shape of computation: a
  stride-2 stem, four conv stages down to 1/32, a 3x3 side output per stage, fused by a 1x1 conv
  at 1/4 resolution and upsampled to the input size. It meets the CPU targets of the project
  (fine-tuning step <= 0.5 s and propagation >= 5 frames/s at 854x480 on two cores).

Both take ``x``: float tensor ``(N, 3, H, W)``, RGB in ``[0, 1]`` (ImageNet normalisation is done
inside) and return logits ``(N, 1, H, W)`` at the input size. :meth:`OSVOSBase.forward_sides`
also returns the per-stage side logits (same size, or the network's working resolution with
``full_size_sides=False``) for deep supervision during training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "OSVOS_NAMES",
    "OSVOSBase",
    "OSVOSPaper",
    "OSVOSLite",
    "build_osvos",
    "class_balanced_bce",
    "imagenet_vgg16_cached",
]

OSVOSName = Literal["paper", "lite"]
OSVOS_NAMES: tuple[str, ...] = ("paper", "lite")

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class OSVOSBase(nn.Module):
    """Common parts: input normalisation, fused forward, side outputs; ``name`` is the config."""

    name: str = "base"

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"OSVOS expects (N, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward_sides(
        self, x: torch.Tensor, *, full_size_sides: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(fused logits (N,1,H,W), [side logits per stage])``; sides are (N,1,H,W) unless
        ``full_size_sides=False`` lets a network return them at its own working resolution."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused logits ``(N, 1, H, W)`` for ``x`` ``(N, 3, H, W)`` RGB in ``[0, 1]``."""
        return self._forward_fused(x)

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_sides(x)[0]


# --------------------------------------------------------------------------------------------
# paper: VGG-16 with side outputs
# --------------------------------------------------------------------------------------------

# torchvision vgg16().features indices: stage k ends with the ReLU before the k-th max-pool.
_VGG_STAGES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
_VGG_STAGE_CHANNELS = (64, 128, 256, 512, 512)


def imagenet_vgg16_cached() -> Path | None:
    """Path of torchvision's VGG-16 ImageNet weight file if it is in the local hub cache."""
    try:
        from torchvision.models import VGG16_Weights

        url = VGG16_Weights.IMAGENET1K_V1.url
    except Exception:  # pragma: no cover - torchvision without weight enums
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


class OSVOSPaper(OSVOSBase):
    """VGG-16 OSVOS: side outputs after stages 2-5, 16 channels each, fused by a 1x1 conv."""

    name = "paper"

    def __init__(self, *, side_channels: int = 16) -> None:
        super().__init__()
        try:  # only the conv part: building vgg16() would also initialise 120M classifier weights
            from torchvision.models.vgg import cfgs, make_layers

            features = make_layers(cfgs["D"], batch_norm=False)
        except ImportError:  # pragma: no cover - older/newer torchvision layouts
            from torchvision.models import vgg16

            features = vgg16(weights=None).features
        # Keep torchvision's layer indices inside ``features`` so ImageNet state dicts load as is.
        self.features = features[:30]  # drop the last max-pool
        self.side_prep = nn.ModuleList(
            nn.Conv2d(c, side_channels, 3, padding=1) for c in _VGG_STAGE_CHANNELS[1:]
        )
        self.side_score = nn.ModuleList(nn.Conv2d(side_channels, 1, 1) for _ in _VGG_STAGE_CHANNELS[1:])
        self.fuse = nn.Conv2d(side_channels * 4, 1, 1)
        for m in [*self.side_prep, *self.side_score, self.fuse]:
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    def forward_sides(
        self, x: torch.Tensor, *, full_size_sides: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        size = x.shape[-2:]
        h = self._normalise(x)
        feats = []
        for k, (a, b) in enumerate(_VGG_STAGES):
            for layer in self.features[a:b]:
                h = layer(h)
            if k >= 1:
                feats.append(h)
        prepped = [
            F.interpolate(p(f), size=size, mode="bilinear", align_corners=False)
            for p, f in zip(self.side_prep, feats)
        ]
        sides = [s(p) for s, p in zip(self.side_score, prepped)]
        fused = self.fuse(torch.cat(prepped, dim=1))
        return fused, sides

    def load_backbone(self, state_dict: dict[str, torch.Tensor], *, source: str) -> int:
        """Load VGG-16 ``features.*`` weights (torchvision layout); return how many tensors loaded."""
        own = self.features.state_dict()
        got = {}
        for k, v in state_dict.items():
            key = k[len("features."):] if k.startswith("features.") else None
            if key is not None and key in own and own[key].shape == v.shape:
                got[key] = v
        if not got:
            raise ValueError(f"{source}: no VGG-16 'features.*' tensors matching the OSVOS backbone")
        self.features.load_state_dict(got, strict=False)
        return len(got)


# --------------------------------------------------------------------------------------------
# lite: a small CPU network of the same shape
# --------------------------------------------------------------------------------------------


def _conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class OSVOSLite(OSVOSBase):
    """Stem (1/2) + four stages (1/4 .. 1/32), a side output per stage fused at 1/4 resolution.

    ``widths`` are the stage channels; side features of ``side_channels`` each are upsampled to
    the 1/4-resolution grid, concatenated, fused by a 1x1 conv and the single logit map is
    upsampled bilinearly to the input size (the expensive work never runs at full resolution).
    """

    name = "lite"

    def __init__(self, *, widths: tuple[int, ...] = (32, 64, 128, 192), side_channels: int = 16, stem: int = 16):
        super().__init__()
        self.stem = _conv_bn(3, stem, stride=2)
        stages = []
        cin = stem
        for w in widths:
            stages.append(nn.Sequential(_conv_bn(cin, w, stride=2), _conv_bn(w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.side_prep = nn.ModuleList(nn.Conv2d(w, side_channels, 3, padding=1) for w in widths)
        self.side_score = nn.ModuleList(nn.Conv2d(side_channels, 1, 1) for _ in widths)
        self.fuse = nn.Conv2d(side_channels * len(widths), 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in [*self.side_score, self.fuse]:
            nn.init.normal_(m.weight, std=0.01)

    def _side_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(self._normalise(x))
        prepped = []
        size = None
        for stage, prep in zip(self.stages, self.side_prep):
            h = stage(h)
            p = prep(h)
            if size is None:
                size = p.shape[-2:]
            else:
                p = F.interpolate(p, size=size, mode="bilinear", align_corners=False)
            prepped.append(p)
        return prepped

    def forward_sides(
        self, x: torch.Tensor, *, full_size_sides: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Fused logits (N,1,H,W) and side logits: (N,1,H,W), or (N,1,H/4,W/4) when
        ``full_size_sides=False`` (training: supervise them against a pooled target, much cheaper)."""
        size = x.shape[-2:]
        prepped = self._side_features(x)
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
        sides = [s(p) for s, p in zip(self.side_score, prepped)]
        if full_size_sides:
            sides = [up(t) for t in sides]
        fused = up(self.fuse(torch.cat(prepped, dim=1)))
        return fused, sides

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        prepped = self._side_features(x)
        return F.interpolate(self.fuse(torch.cat(prepped, dim=1)), size=x.shape[-2:], mode="bilinear", align_corners=False)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"OSVOS pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def build_osvos(name: OSVOSName = "lite", *, pretrained: str | Path | None = None, imagenet: bool = True) -> OSVOSBase:
    """Build an OSVOS network by configuration name (``"paper"`` or ``"lite"``).

    ``pretrained``: a local weight file (``.safetensors`` or a torch state dict). For ``paper``
    a VGG-16 ImageNet state dict (``features.*`` keys) or a full OSVOS state dict; for ``lite`` a
    full state dict. Without it, ``paper`` loads torchvision's ImageNet VGG-16 weights when
    ``imagenet`` and the file is already in the torch hub cache (nothing is downloaded), else it
    starts from scratch. Parent checkpoints written by :mod:`ivos_core.training.osvos_parent` load with
    :func:`ivos_core.training.osvos_parent.load_parent`.
    """
    if name == "paper":
        model: OSVOSBase = OSVOSPaper()
    elif name == "lite":
        model = OSVOSLite()
    else:
        raise ValueError(f"unknown OSVOS configuration {name!r}; choose one of {OSVOS_NAMES}")
    if pretrained is not None:
        path = Path(pretrained)
        sd = _read_state_dict(path)
        try:
            missing, unexpected = model.load_state_dict(sd, strict=False)
        except RuntimeError as exc:  # same names, other shapes
            raise ValueError(f"{path}: weights do not fit the OSVOS {name!r} network ({exc})") from exc
        n_loaded = len(sd) - len(unexpected)
        if isinstance(model, OSVOSPaper) and n_loaded == 0:
            model.load_backbone(sd, source=str(path))
        elif n_loaded == 0:
            raise ValueError(f"{path}: no tensors match the OSVOS {name!r} network")
    elif name == "paper" and imagenet:
        cached = imagenet_vgg16_cached()
        if cached is not None:
            assert isinstance(model, OSVOSPaper)
            model.load_backbone(_read_state_dict(cached), source=str(cached))
    return model


def class_balanced_bce(
    logits: torch.Tensor, target: torch.Tensor, *, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """OSVOS class-balanced binary cross-entropy, averaged over pixels then images.

    For each image with ``P`` positive and ``N`` negative (valid) pixels, ``T = P + N``::

        loss = ( N/T * sum_{pos} -log sigmoid(x) + P/T * sum_{neg} -log(1 - sigmoid(x)) ) / T

    i.e. each class's term is weighted by the *other* class's frequency (beta = |Y-|/|Y| in
    Caelles et al.), so a small object is not drowned by the background. An image with only one
    class present falls back to the plain mean BCE (the balanced form would be zero).

    ``logits``, ``target`` (0/1, any dtype) and ``valid`` (optional, 1 = counts): ``(N, 1, H, W)``
    or ``(N, H, W)``. Returns a scalar tensor.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    n = logits.shape[0]
    x = logits.reshape(n, -1).float()
    y = target.reshape(n, -1).to(x.dtype)
    w = torch.ones_like(x) if valid is None else valid.reshape(n, -1).to(x.dtype)
    pos = y * w
    neg = (1 - y) * w
    n_pos = pos.sum(1)
    n_neg = neg.sum(1)
    total = (n_pos + n_neg).clamp_min(1.0)
    loss_pos = (F.softplus(-x) * pos).sum(1)  # -log sigmoid(x)
    loss_neg = (F.softplus(x) * neg).sum(1)  # -log (1 - sigmoid(x))
    balanced = (n_neg / total * loss_pos + n_pos / total * loss_neg) / total
    plain = (loss_pos + loss_neg) / total
    one_class = (n_pos == 0) | (n_neg == 0)
    return torch.where(one_class, plain, balanced).mean()
