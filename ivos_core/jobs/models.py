"""Model versions of replay jobs: a named interactive checkpoint + OSVOS config/parent + budgets.

:func:`resolve_model` turns a name into a :class:`ModelVersion` (``<models_dir>/<name>/`` holds
``interactive.safetensors`` (+ ``.json``), ``osvos_parent.safetensors`` and ``model.json``); its
:attr:`ModelVersion.version` (``<name>-<8 hex>``) keys the job's outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivos_core.interactive.options import MODEL_OPTION_NAMES, SegmenterOptions
from ivos_core.shipped import DEFAULT_MODEL
from ivos_core.utils import file_sha256
from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions

__all__ = ["JobError", "INTERACTIVE_OPTIONS", "ModelVersion", "resolve_model", "default_models_dir"]

# InteractiveSegmenter options a model version may set (model.json "interactive_options"): the
# fields of SegmenterOptions, so a new option needs no second list here
INTERACTIVE_OPTIONS = MODEL_OPTION_NAMES


class JobError(RuntimeError):
    """A job cannot run (no checkpoint, unreadable video...); the message says what to fix."""


@dataclass(frozen=True)
class ModelVersion:
    """A named model version: interactive checkpoint + OSVOS config/parent + fine-tuning budget."""

    name: str
    interactive_checkpoint: Path | None
    osvos: str = "lite"
    osvos_checkpoint: Path | None = None
    finetune_steps: int = DEFAULT_OSVOS_OPTIONS.finetune_steps
    refine_steps: int | None = None  # fine-tuning steps after each refinement frame (default: half)
    interactive: str = "deep"  # "deep" (the checkpoint) or "grabcut" (the classical baseline, no weights)
    # InteractiveSegmenter options of the deep model, e.g. {"crf": true, "colour_weight": 0.5,
    # "keep_clicked": true} (model.json "interactive_options"); part of the version when set
    interactive_options: dict[str, Any] = field(default_factory=dict)
    # OSVOSOptions fields (model.json "osvos_options", e.g. the dev-chosen lr and prior) over the
    # defaults of ivos_core.video_prior; part of the version when set
    osvos_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            self.video_options()
        except ValueError as exc:
            raise JobError(f"model {self.name!r}: {exc}") from exc
        unknown = set(self.interactive_options) - set(INTERACTIVE_OPTIONS)
        if unknown:
            raise JobError(
                f"model {self.name!r}: unknown interactive_options {sorted(unknown)}; "
                f"allowed: {', '.join(INTERACTIVE_OPTIONS)}"
            )
        try:
            SegmenterOptions(**self.interactive_options)
        except (TypeError, ValueError) as exc:
            raise JobError(f"model {self.name!r}: bad interactive_options ({exc}); fix model.json") from exc

    @property
    def version(self) -> str:
        """``<name>-<8 hex>``: the hash covers weights, OSVOS config and step budgets."""
        h = hashlib.sha256()
        for p in (self.interactive_checkpoint, self.osvos_checkpoint):
            if p is None:
                h.update(b"-")
                continue
            for f in _checkpoint_files(Path(p)):
                h.update(f.name.encode())
                h.update(bytes.fromhex(file_sha256(f)))
        h.update(f"{self.interactive}|{self.osvos}|{self.finetune_steps}|{self.refine_steps}".encode())
        if self.interactive_options:  # absent options keep the versions of older outputs
            h.update(json.dumps(self.interactive_options, sort_keys=True).encode())
        if self.osvos_options:
            h.update(b"osvos" + json.dumps(self.osvos_options, sort_keys=True).encode())
        return f"{self.name}-{h.hexdigest()[:8]}"

    def video_options(self) -> OSVOSOptions:
        """The OSVOS options of this version: the defaults, ``osvos_options``, ``finetune_steps``."""
        return OSVOSOptions.from_dict({**self.osvos_options, "finetune_steps": max(0, int(self.finetune_steps))})

    @property
    def refinement_steps(self) -> int:
        """Fine-tuning steps after each refinement frame: ``refine_steps`` or half the budget."""
        return self.refine_steps if self.refine_steps is not None else max(1, self.finetune_steps // 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "interactive": self.interactive,
            "interactive_checkpoint": str(self.interactive_checkpoint) if self.interactive_checkpoint else None,
            "osvos": self.osvos,
            "osvos_checkpoint": str(self.osvos_checkpoint) if self.osvos_checkpoint else None,
            "finetune_steps": self.finetune_steps,
            "refine_steps": self.refine_steps,
            "interactive_options": dict(self.interactive_options),
            "osvos_options": dict(self.osvos_options),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelVersion":
        """The inverse of :meth:`to_dict` (flows pass model versions between tasks as plain dicts)."""
        return cls(
            name=d["name"],
            interactive_checkpoint=Path(d["interactive_checkpoint"]) if d.get("interactive_checkpoint") else None,
            osvos=d["osvos"],
            osvos_checkpoint=Path(d["osvos_checkpoint"]) if d.get("osvos_checkpoint") else None,
            finetune_steps=int(d["finetune_steps"]),
            refine_steps=d.get("refine_steps"),
            interactive=d.get("interactive", "deep"),
            interactive_options=dict(d.get("interactive_options") or {}),
            osvos_options=dict(d.get("osvos_options") or {}),
        )


def _checkpoint_files(p: Path) -> list[Path]:
    base = p.with_suffix("") if p.is_file() and p.suffix in (".safetensors", ".json") else p
    cands = [base.with_name(base.name + s) for s in (".safetensors", ".json")] + [p]
    return sorted({c for c in cands if c.is_file()})


def _find_checkpoint(folder: Path, stem: str) -> Path | None:
    if not folder.is_dir():
        return None
    for cand in (folder / f"{stem}.safetensors", folder / f"{stem}.json"):
        if cand.is_file():
            return cand.with_suffix("")
    hits = sorted(folder.glob(f"{stem}*.safetensors"))
    hits = [h for h in hits if not h.name.endswith(".state.safetensors")]
    return hits[-1].with_suffix("") if hits else None


def default_models_dir() -> Path:
    home = os.environ.get("IVOS_HOME")
    return Path(home) / "models" if home else Path("outputs") / "models"


def _interactive_checkpoint(name: str, mdir: Path, method: str, explicit: str | Path | None) -> Path | None:
    if method not in ("deep", "grabcut"):
        raise JobError(f"unknown interactive method {method!r}; expected 'deep' (a checkpoint) or 'grabcut'")
    if method == "grabcut":
        return None
    inter = Path(explicit) if explicit else _find_checkpoint(mdir, "interactive")
    if inter is None:
        raise JobError(
            f"model {name!r} has no interactive checkpoint: looked for {mdir}/interactive.safetensors; "
            "train one (`ivos train interactive`) and copy it there, or pass --interactive-checkpoint PATH"
        )
    if not _checkpoint_files(inter):
        raise JobError(f"interactive checkpoint {inter} not found (expected {inter}.safetensors + .json)")
    return inter


def _model_folder(name: str, models_dir: str | Path | None) -> Path:
    """``<models_dir>/<name>``; a name found nowhere there but shipped with ivos
    (``models/<name>``, :mod:`ivos_core.shipped`) resolves to the shipped folder."""
    mdir = (Path(models_dir) if models_dir else default_models_dir()) / name
    if not mdir.is_dir():
        from ivos_core.shipped import models_root

        shipped = models_root() / name
        if shipped.is_dir():
            return shipped
    return mdir


def resolve_model(
    name: str = DEFAULT_MODEL,
    *,
    models_dir: str | Path | None = None,
    interactive_checkpoint: str | Path | None = None,
    interactive: str | None = None,
    osvos: str | None = None,
    osvos_checkpoint: str | Path | None = None,
    finetune_steps: int | None = None,
    refine_steps: int | None = None,
) -> ModelVersion:
    """Resolve a model name to checkpoints.

    ``<models_dir>/<name>/`` (default ``$IVOS_HOME/models`` or ``outputs/models``; then the shipped
    ``models/<name>``, so the default name runs the shipped model) may hold
    ``interactive.safetensors`` (+ ``.json``), ``osvos_parent.safetensors`` and ``model.json``
    (``{"osvos": "lite"}``); explicit arguments win. Without an interactive checkpoint the job
    cannot run: :class:`JobError` says where it looked and how to get one.
    """
    mdir = _model_folder(name, models_dir)
    meta: dict[str, Any] = json.loads((mdir / "model.json").read_text()) if (mdir / "model.json").is_file() else {}
    method = str(interactive or meta.get("interactive") or "deep")
    inter = _interactive_checkpoint(name, mdir, method, interactive_checkpoint)
    par = Path(osvos_checkpoint) if osvos_checkpoint else _find_checkpoint(mdir, "osvos_parent")
    cfg = osvos or meta.get("osvos") or (name if name in ("lite", "paper") else "lite")
    return ModelVersion(
        name=name,
        interactive_checkpoint=inter,
        osvos=str(cfg),
        osvos_checkpoint=par,
        finetune_steps=int(finetune_steps if finetune_steps is not None else meta.get("finetune_steps", DEFAULT_OSVOS_OPTIONS.finetune_steps)),
        refine_steps=refine_steps if refine_steps is not None else meta.get("refine_steps"),
        interactive=method,
        interactive_options=dict(meta.get("interactive_options") or {}),
        osvos_options=dict(meta.get("osvos_options") or {}),
    )
