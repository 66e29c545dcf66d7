"""Model registry: interactive segmentation networks built by name.

``build_interactive(name, *, encoding, use_mask, pretrained)`` returns an
:class:`~ivos_core.models.interactive.InteractiveNet`; ``list_models()`` names what exists.

Names: ``paper`` (ResNet-101 atrous + PSP, the paper's GPU configuration), ``lite`` (a residual
UNet that trains and runs on a 2-core CPU). The iFCN baseline is the same networks with the
two-channel distance encoding; the aliases ``ifcn`` (= ``paper``) and ``lite-ifcn`` (= ``lite``)
default to ``encoding="distance"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ivos_core.models.interactive import (
    Encoding,
    InteractiveNet,
    LiteNet,
    ModelSpec,
    PaperNet,
    PretrainedWeightsError,
    assemble_input,
    click_channels,
    load_pretrained,
    normalize_rgb,
)

__all__ = [
    "Encoding",
    "InteractiveNet",
    "LiteNet",
    "ModelSpec",
    "PaperNet",
    "PretrainedWeightsError",
    "assemble_input",
    "build_interactive",
    "click_channels",
    "list_models",
    "load_pretrained",
    "normalize_rgb",
    "resolve_name",
]


@dataclass(frozen=True)
class _Entry:
    base: str
    default_encoding: Encoding
    builder: Callable[[ModelSpec], InteractiveNet]
    description: str


_REGISTRY: dict[str, _Entry] = {
    "paper": _Entry("paper", "gaussian", PaperNet, "ResNet-101, atrous (OS 8), PSP head; GPU configuration"),
    "lite": _Entry("lite", "gaussian", LiteNet, "residual UNet (~2.5M params), trains/runs on a 2-core CPU"),
    "ifcn": _Entry("paper", "distance", PaperNet, "alias: paper with iFCN's two distance-map channels"),
    "lite-ifcn": _Entry("lite", "distance", LiteNet, "alias: lite with iFCN's two distance-map channels"),
}


def list_models() -> dict[str, str]:
    """Registry names -> one-line descriptions."""
    return {k: e.description for k, e in _REGISTRY.items()}


def resolve_name(name: str, encoding: Encoding | None = None) -> tuple[str, Encoding]:
    """Map a registry name (or alias) and an optional encoding to (base name, encoding).

    An alias implies its encoding; asking ``ifcn`` for ``gaussian`` is an error.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown interactive model {name!r}; expected one of {sorted(_REGISTRY)}")
    if encoding is None:
        return entry.base, entry.default_encoding
    click_channels(encoding)
    if entry.base != name and encoding != entry.default_encoding:
        raise ValueError(
            f"model alias {name!r} means {entry.base!r} with encoding {entry.default_encoding!r}, "
            f"but encoding={encoding!r} was asked; use name={entry.base!r} instead"
        )
    return entry.base, encoding


def build_interactive(
    name: str,
    *,
    encoding: Encoding | None = None,
    use_mask: bool = True,
    pretrained: str | Path | None = None,
) -> InteractiveNet:
    """Build an interactive network by registry name.

    Input (B, 3 + use_mask + 1|2, H, W), ImageNet-normalised RGB first; output logits
    (B, 1, H, W). ``encoding`` defaults to the name's (``gaussian``; ``distance`` for the iFCN
    aliases). ``pretrained``: None (from scratch), ``"imagenet"`` / ``"deeplabv3-coco"`` (paper
    only; from the torch hub cache, never downloaded) or a local weights file path.
    """
    base, enc = resolve_name(name, encoding)
    spec = ModelSpec(name=base, encoding=enc, use_mask=bool(use_mask))
    model = _REGISTRY[base].builder(spec)
    if pretrained is not None:
        if isinstance(model, PaperNet):
            load_pretrained(model, pretrained)
        elif pretrained in ("imagenet", "deeplabv3-coco"):
            raise ValueError(
                f"pretrained={pretrained!r} is only available for the 'paper' network; "
                f"{base!r} trains from scratch or loads a local file"
            )
        else:
            from ivos_core.models.interactive import read_state_file

            state = read_state_file(pretrained)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise PretrainedWeightsError(
                    f"{pretrained}: not a state dict of {base!r} with {spec.in_channels} input channels ({exc})"
                ) from exc
    return model
