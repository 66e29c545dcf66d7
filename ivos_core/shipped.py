"""The trained models committed with ivos: what a fresh clone uses when no checkpoint is given.

A shipped model is a folder (default ``models/ivos-lite-v1`` at the repository root; override the
parent folder with ``IVOS_MODELS``) holding

* ``interactive.{safetensors,json}``: the interactive network (a normal ivos checkpoint);
* ``osvos_parent.{safetensors,json}``: the OSVOS parent, when one is shipped;
* ``model.json``: the inference settings chosen on the development sets (``interactive_options``
  for :class:`~ivos_core.interactive.segmenter.InteractiveSegmenter`, ``osvos`` / ``finetune_steps`` /
  ``osvos_options`` for the video side) and where each choice was made. It is the same folder
  layout as a job's named model (:func:`ivos_core.jobs.resolve_model`), so the jobs use it as is;
* ``MODEL_CARD.md``: training data, steps, command, dev and test results, data licences.

Keeping the settings beside the weights means every entry point (``ivos eval``, ``ivos demo``,
the jobs, the simulator, the annotation app) gets the same, dev-chosen configuration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "ivos-lite-v1"


class ShippedModelError(FileNotFoundError):
    """The shipped model folder is missing or incomplete."""


def models_root() -> Path:
    """``$IVOS_MODELS`` or the repository's ``models/`` folder."""
    env = os.environ.get("IVOS_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ShippedModel:
    """Paths and dev-chosen settings of one shipped model (see the module docstring)."""

    name: str
    folder: Path
    interactive: Path
    osvos_parent: Path | None
    interactive_options: dict[str, Any] = field(default_factory=dict)
    osvos_options: dict[str, Any] = field(default_factory=dict)
    finetune_steps: int | None = None


def _has_checkpoint(base: Path) -> bool:
    return base.with_name(base.name + ".safetensors").is_file() and base.with_name(base.name + ".json").is_file()


def shipped_model(name: str = DEFAULT_MODEL, root: str | Path | None = None) -> ShippedModel:
    """The shipped model ``name``; raises :class:`ShippedModelError` saying what is missing."""
    folder = Path(root) if root is not None else models_root()
    folder = folder / name
    inter = folder / "interactive"
    if not _has_checkpoint(inter):
        raise ShippedModelError(
            f"no shipped interactive model at {inter}.safetensors/.json; pass --checkpoint PATH "
            f"(a model from `ivos train interactive`) or set IVOS_MODELS to the folder holding {name}/"
        )
    parent = folder / "osvos_parent"
    opts_file = folder / "model.json"
    opts: dict[str, Any] = json.loads(opts_file.read_text(encoding="utf-8")) if opts_file.is_file() else {}
    return ShippedModel(
        name=name,
        folder=folder,
        interactive=inter,
        osvos_parent=parent if _has_checkpoint(parent) else None,
        interactive_options=dict(opts.get("interactive_options", {})),
        osvos_options=dict(opts.get("osvos_options", {})),
        finetune_steps=opts.get("finetune_steps"),
    )
