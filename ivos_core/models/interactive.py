"""Deep interactive segmentation networks (paper §2.1.2) and their input layout.

Every network here maps one tensor ``(B, C, H, W)`` to foreground logits ``(B, 1, H, W)`` at the
input size. The ``C`` input channels are, in this order (see :func:`assemble_input`):

* 3: the RGB image, ImageNet-normalised (:func:`normalize_rgb`);
* 1: the current segmentation (0/1 float), present when ``use_mask`` (the paper's causality
  channel; all zeros when there is no previous mask);
* 1 or 2: the click channels from :mod:`ivos_core.interactive.encoding` (``gaussian``: one signed channel;
  ``distance``: iFCN's two truncated distance maps).

Two families:

* :class:`PaperNet` (``paper``): torchvision ResNet-101 with atrous convolutions in the last two
  stages (output stride 8) and a pyramid-pooling (PSP) head. The first convolution is widened to
  the extra channels with zero weights, so RGB-pretrained weights load unchanged and, before any
  training, the extra channels change nothing (tested).
* :class:`LiteNet` (``lite``): a residual UNet (~2M parameters, stride 32 bottleneck with pyramid
  pooling, decoder back to stride 2 plus a full-resolution refinement head that sees the raw
  inputs again). It trains from scratch on a 2-core CPU and runs at a longer side of 384 px.

Weights for ``paper`` (see :func:`load_pretrained`): ``"imagenet"`` (torchvision ResNet-101),
``"deeplabv3-coco"`` (the backbone of torchvision's DeepLabV3-ResNet101 trained on COCO with VOC
labels, closest to the paper's PASCAL fine-tuning) - both only from the torch hub cache, never
downloaded here - or a local ``.safetensors`` / torch state-dict file (read with
``weights_only=True``, so a pickle inside is refused rather than executed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

Encoding = Literal["gaussian", "distance"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def click_channels(encoding: str) -> int:
    """Number of click channels of an encoding: 1 (``gaussian``) or 2 (``distance``)."""
    if encoding == "gaussian":
        return 1
    if encoding == "distance":
        return 2
    raise ValueError(f"unknown click encoding {encoding!r}; expected 'gaussian' or 'distance'")


@dataclass(frozen=True)
class ModelSpec:
    """What a network expects: its registry name, click encoding and whether it takes a mask."""

    name: str
    encoding: Encoding = "gaussian"
    use_mask: bool = True

    def __post_init__(self) -> None:
        click_channels(self.encoding)  # validates

    @property
    def n_click_channels(self) -> int:
        return click_channels(self.encoding)

    @property
    def in_channels(self) -> int:
        """3 (RGB) + 1 (mask, if used) + 1|2 (clicks)."""
        return 3 + int(self.use_mask) + self.n_click_channels

    @property
    def n_extra_channels(self) -> int:
        return self.in_channels - 3


class InteractiveNet(nn.Module):
    """Base class: ``forward(x (B, C, H, W)) -> logits (B, 1, H, W)``.

    ``spec`` says what the channels are; ``size_divisor`` is what H and W must be a multiple of
    (callers pad); ``default_input_size`` is the longer side the segmenter resizes images to
    (None: keep the native size).
    """

    spec: ModelSpec
    size_divisor: int = 32
    default_input_size: int | None = None


# ---------------------------------------------------------------------------------------------
# Input assembly (shared by the segmenter and the training datasets so they never disagree)


def normalize_rgb(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet mean/std normalised.

    Computed in numpy (one thread): small per-example tensors are slower through torch's
    intra-op thread pool, especially on a busy machine.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}"
        )
    scale = (1.0 / (255.0 * np.asarray(IMAGENET_STD, np.float32))).astype(np.float32)
    shift = (np.asarray(IMAGENET_MEAN, np.float32) / np.asarray(IMAGENET_STD, np.float32)).astype(np.float32)
    out = image.astype(np.float32) * scale - shift  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))


def assemble_input(
    rgb: torch.Tensor,
    clicks: torch.Tensor | np.ndarray,
    mask: torch.Tensor | np.ndarray | None,
    spec: ModelSpec,
) -> torch.Tensor:
    """Stack the network input: ``rgb`` (3, H, W) normalised, ``clicks`` (1|2, H, W) from
    :func:`ivos_core.interactive.encoding.encode`, ``mask`` (H, W) in [0, 1] or None (zeros).

    Returns (C, H, W) float32 with C = ``spec.in_channels``; the mask is dropped when the spec
    does not use one.
    """
    h, w = rgb.shape[-2:]
    c = clicks.detach().cpu().numpy() if isinstance(clicks, torch.Tensor) else np.asarray(clicks)
    if c.ndim == 2:
        c = c[None]
    if c.shape != (spec.n_click_channels, h, w):
        raise ValueError(
            f"expected click channels of shape {(spec.n_click_channels, h, w)} for encoding "
            f"{spec.encoding!r}, got {tuple(c.shape)}"
        )
    out = np.empty((spec.in_channels, h, w), np.float32)
    out[:3] = rgb.detach().cpu().numpy()
    k = 3
    if spec.use_mask:
        if mask is None:
            out[3] = 0.0
        else:
            m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
            out[3] = m.reshape(h, w)
        k = 4
    out[k:] = c
    return torch.from_numpy(out).to(rgb.device)


# ---------------------------------------------------------------------------------------------
# paper: ResNet-101, atrous (output stride 8), PSP head


class PSPHead(nn.Module):
    """Pyramid pooling: pool to 1/2/3/6 bins, 1x1 conv each, upsample, concat, 3x3 conv, classify."""

    def __init__(self, in_ch: int, mid: int = 512, bins: tuple[int, ...] = (1, 2, 3, 6), dropout: float = 0.1):
        super().__init__()
        branch = in_ch // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                nn.Conv2d(in_ch, branch, 1, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
            for b in bins
        )
        self.bottleneck = nn.Sequential(
            nn.Conv2d(in_ch + branch * len(bins), mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )
        self.classifier = nn.Conv2d(mid, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        feats = [x] + [
            F.interpolate(s(x), size=(h, w), mode="bilinear", align_corners=False) for s in self.stages
        ]
        return self.classifier(self.bottleneck(torch.cat(feats, 1)))


class PaperNet(InteractiveNet):
    """ResNet-101 (dilated, OS 8) + PSP head; input (B, C, H, W) -> logits (B, 1, H, W)."""

    size_divisor = 8
    default_input_size = None

    def __init__(self, spec: ModelSpec, *, depth: int = 101):
        super().__init__()
        from torchvision.models import resnet50, resnet101

        self.spec = spec
        ctor = {101: resnet101, 50: resnet50}[depth]
        backbone = ctor(weights=None, replace_stride_with_dilation=[False, True, True])
        old = backbone.conv1
        conv1 = nn.Conv2d(spec.in_channels, old.out_channels, 7, 2, 3, bias=False)
        with torch.no_grad():
            conv1.weight.zero_()
            conv1.weight[:, :3] = old.weight
        backbone.conv1 = conv1
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.head = PSPHead(2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        b = self.backbone
        y = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        y = b.layer4(b.layer3(b.layer2(b.layer1(y))))
        return F.interpolate(self.head(y), size=(h, w), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------------------
# lite: residual UNet for CPUs


def _cbr(i: int, o: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """conv-BN-ReLU, conv-BN, plus a (projected) shortcut, ReLU. (B, i, H, W) -> (B, o, H/s, W/s)."""

    def __init__(self, i: int, o: int, stride: int = 1):
        super().__init__()
        self.a = _cbr(i, o, stride)
        self.b = nn.Sequential(nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o))
        self.skip = (
            nn.Identity()
            if (i == o and stride == 1)
            else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(self.a(x)) + self.skip(x), inplace=True)


class LitePPM(nn.Module):
    """Cheap pyramid pooling at the bottleneck: global context for clicks far from the object."""

    def __init__(self, ch: int, bins: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        br = max(16, ch // 4)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(ch, br, 1, bias=False), nn.ReLU(inplace=True))
            for b in bins
        )
        self.fuse = _cbr(ch + br * len(bins), ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        feats = [x] + [F.interpolate(s(x), size=(h, w), mode="bilinear", align_corners=False) for s in self.stages]
        return self.fuse(torch.cat(feats, 1))


class LiteNet(InteractiveNet):
    """Residual UNet: encoder strides 2..32, PPM, decoder to stride 2, full-res refine head.

    Input (B, C, H, W) with H, W multiples of 32 -> logits (B, 1, H, W).
    """

    size_divisor = 32
    default_input_size = 384

    def __init__(self, spec: ModelSpec, *, widths: tuple[int, ...] = (32, 48, 96, 144, 224), refine_ch: int = 16):
        super().__init__()
        self.spec = spec
        cin = spec.in_channels
        self.stem = _cbr(cin, widths[0], 2)  # stride 2
        self.enc = nn.ModuleList()
        prev = widths[0]
        for i, wd in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.enc.append(ResBlock(prev, wd, stride))
            prev = wd
        self.ppm = LitePPM(prev)
        self.dec = nn.ModuleList()
        for wd in reversed(widths[:-1]):
            self.dec.append(nn.Sequential(_cbr(prev + wd, wd), _cbr(wd, wd)))
            prev = wd
        # full-resolution refinement: a few decoder channels (upsampled) + the raw inputs again
        self.aux = nn.Conv2d(prev, 1, 1)  # stride-2 logits, the refine head adds a residual
        self.reduce = nn.Sequential(nn.Conv2d(prev, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.refine = nn.Sequential(_cbr(8 + cin, refine_ch), nn.Conv2d(refine_ch, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self.stem(x)
        skips = []
        for blk in self.enc:
            y = blk(y)
            skips.append(y)
        y = self.ppm(y)
        for dec, skip in zip(self.dec, reversed(skips[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = dec(torch.cat([y, skip], 1))
        coarse = F.interpolate(self.aux(y), size=(h, w), mode="bilinear", align_corners=False)
        y = F.interpolate(self.reduce(y), size=(h, w), mode="bilinear", align_corners=False)
        return coarse + self.refine(torch.cat([y, x], 1))


# pretrained weights live in their own module; these names stay importable from here
from ivos_core.models.pretrained import PretrainedWeightsError, load_pretrained, read_state_file  # noqa: E402,F401
