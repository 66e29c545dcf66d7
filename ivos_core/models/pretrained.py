"""Pretrained weights for the ``paper`` interactive network, read without ever downloading or
unpickling arbitrary objects: torchvision enums only from the hub cache, local files as
safetensors or tensors-only state dicts (``weights_only=True``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ivos_core.models.interactive import PaperNet

__all__ = ["PretrainedWeightsError", "load_pretrained", "read_state_file"]


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights could not be loaded; the message says what to pass instead."""


def _widen_conv1(state: dict[str, torch.Tensor], key: str, in_channels: int) -> None:
    """Zero-pad an RGB first-conv weight (O, 3, k, k) in place to (O, in_channels, k, k)."""
    w = state.get(key)
    if w is not None and w.ndim == 4 and w.shape[1] == 3 and in_channels > 3:
        extra = torch.zeros((w.shape[0], in_channels - 3, *w.shape[2:]), dtype=w.dtype)
        state[key] = torch.cat([w, extra], 1)


def _hub_cached_state(weights) -> dict[str, torch.Tensor]:
    """A torchvision weight enum's state dict, only if its file is already in the hub cache."""
    from urllib.parse import urlparse

    fname = Path(urlparse(weights.url).path).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / fname
    if not cached.is_file():
        raise PretrainedWeightsError(
            f"pretrained weights {weights} are not in the torch hub cache (expected {cached}) and "
            "ivos never downloads them (these machines have no internet). Copy the file there, or "
            "pass a local .safetensors / state-dict file as pretrained=PATH, or pretrained=None."
        )
    return weights.get_state_dict(progress=False, check_hash=False)


def read_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a tensor file: ``.safetensors`` or a torch state dict loaded with ``weights_only=True``.

    Never unpickles arbitrary objects: a pickle that is not plain tensors is refused with a
    :class:`PretrainedWeightsError`.
    """
    p = Path(path)
    if not p.is_file():
        raise PretrainedWeightsError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError) as exc:
            raise PretrainedWeightsError(f"{p} is not a valid safetensors file ({exc})") from exc
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError...
        raise PretrainedWeightsError(
            f"{p} could not be read as a tensors-only torch state dict (weights_only=True refused or "
            f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(f"{p} does not hold a state dict of tensors (got {type(obj).__name__})")
    return dict(obj)


def load_pretrained(model: PaperNet, pretrained: str | Path) -> dict[str, list[str]]:
    """Load ``"imagenet"``, ``"deeplabv3-coco"`` or a local file into a :class:`PaperNet`.

    A local file may hold a whole ``PaperNet`` state dict, a bare torchvision ResNet state dict,
    or a ``backbone.``-prefixed one (as in DeepLabV3). RGB first-conv weights are zero-padded to
    the extra channels. Returns ``{"missing": [...], "unexpected": [...]}`` of the backbone load.
    """
    if pretrained == "imagenet":
        from torchvision.models import ResNet101_Weights

        state = _hub_cached_state(ResNet101_Weights.IMAGENET1K_V2)
    elif pretrained == "deeplabv3-coco":
        from torchvision.models.segmentation import DeepLabV3_ResNet101_Weights

        state = _hub_cached_state(DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1)
    else:
        state = read_state_file(pretrained)

    own = model.state_dict()
    if "backbone.conv1.weight" in state and "head.classifier.weight" in state:
        # a whole PaperNet state dict
        state = dict(state)
        _widen_conv1(state, "backbone.conv1.weight", model.spec.in_channels)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise PretrainedWeightsError(f"{pretrained}: not a matching PaperNet state dict ({exc})") from exc
        return {"missing": [], "unexpected": []}
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if "conv1.weight" not in state:
        raise PretrainedWeightsError(
            f"{pretrained}: expected a ResNet state dict (keys like 'conv1.weight', 'layer1.0...'), "
            f"got keys {sorted(state)[:5]}..."
        )
    _widen_conv1(state, "conv1.weight", model.spec.in_channels)
    bb_own = {k[len("backbone."):]: v for k, v in own.items() if k.startswith("backbone.")}
    bad = [k for k, v in state.items() if k in bb_own and bb_own[k].shape != v.shape]
    if bad:
        raise PretrainedWeightsError(
            f"{pretrained}: shapes differ for {bad[:3]} (expected ResNet-101 weights, e.g. conv1 "
            f"{tuple(bb_own['conv1.weight'].shape)}, got {tuple(state['conv1.weight'].shape)})"
        )
    res = model.backbone.load_state_dict(state, strict=False)
    missing = [k for k in res.missing_keys if k != "fc.weight" and k != "fc.bias"]
    if len(missing) > len(bb_own) // 2:
        raise PretrainedWeightsError(
            f"{pretrained}: only {len(bb_own) - len(missing)} of {len(bb_own)} backbone tensors matched; "
            "expected a ResNet-101 state dict"
        )
    return {"missing": missing, "unexpected": list(res.unexpected_keys)}
