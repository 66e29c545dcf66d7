"""Checkpoints: safetensors weights + a JSON config, and (optionally) a resumable training state.

A checkpoint at ``PATH`` (any ``.safetensors``/``.json`` suffix is stripped) is three files:

* ``PATH.safetensors`` - the model's ``state_dict`` (parameters and buffers). Safetensors is a
  JSON header plus raw bytes: reading it never executes code.
* ``PATH.json`` - what the weights are: ``format`` (``"ivos-checkpoint"``), ``format_version``,
  ``kind`` (``"interactive"``, ``"osvos"``...), ``model`` (registry name), ``encoding``,
  ``use_mask``, ``ivos_version``, ``step``, ``created_at``, ``weights_sha256`` (of the
  safetensors file, so a truncated or swapped file is detected) and the caller's ``config``.
* ``PATH.state.safetensors`` (only when ``optimizer_state`` or ``rng_state`` is given) - the
  optimizer's tensors flattened to ``optim.<param index>.<name>`` plus the torch RNG state as
  ``rng.torch``; the optimizer's ``param_groups`` (plain numbers) and non-tensor state live in
  the JSON under ``"train_state"``. Nothing is pickled, so resuming is as safe as loading.

Any problem - missing file, corrupt or truncated file, a pickle disguised as a checkpoint, a
checkpoint of another kind or model - raises :class:`CheckpointError` naming what was expected
and what was found. ``torch.load`` is never used here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from ivos_core.utils import atomic_write, file_sha256

FORMAT = "ivos-checkpoint"
FORMAT_VERSION = 1

_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says what was expected and what was found."""


@dataclass(frozen=True)
class CheckpointPaths:
    """The files of one checkpoint (``base`` has no suffix)."""

    base: Path

    @property
    def weights(self) -> Path:
        return self.base.with_name(self.base.name + ".safetensors")

    @property
    def config(self) -> Path:
        return self.base.with_name(self.base.name + ".json")

    @property
    def state(self) -> Path:
        return self.base.with_name(self.base.name + ".state.safetensors")

    @classmethod
    def of(cls, path: str | Path) -> "CheckpointPaths":
        p = Path(path)
        name = p.name
        for suf in (".state.safetensors", ".safetensors", ".json"):
            if name.endswith(suf):
                name = name[: -len(suf)]
                break
        return cls(p.with_name(name))


@dataclass(frozen=True)
class TrainState:
    """What a training loop needs to resume: optimizer state dict, torch RNG, extra JSON."""

    optimizer_state: dict[str, Any] | None
    rng_torch: torch.Tensor | None
    extra: dict[str, Any]


def _ivos_version() -> str:
    try:
        from importlib.metadata import version

        return version("ivos")
    except Exception:
        return "0+unknown"


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write(path, save(clean, metadata=meta))


def _read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """Read a safetensors file; refuse pickles and zip (torch.save) files without unpickling."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not path.is_file():
        raise CheckpointError(f"{what}: expected a safetensors file at {path}, found nothing")
    data = path.read_bytes()
    if data[:2] in _PICKLE_MAGIC or data[:4] == _ZIP_MAGIC:
        raise CheckpointError(
            f"{what}: {path} is a pickle / torch.save file, not safetensors; refusing to load it "
            "(unpickling can execute code). Expected a safetensors file written by save_checkpoint."
        )
    try:
        return load(data)
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise CheckpointError(
            f"{what}: {path} is corrupt or not a safetensors file ({len(data)} bytes; {exc})"
        ) from exc


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: Mapping[str, Any],
    *,
    step: int | None = None,
    optimizer_state: Mapping[str, Any] | None = None,
    rng_state: torch.Tensor | None = None,
    train_extra: Mapping[str, Any] | None = None,
) -> CheckpointPaths:
    """Write ``PATH.safetensors`` + ``PATH.json`` (+ ``PATH.state.safetensors`` for resume).

    ``config`` must say ``kind`` and ``model`` unless the model carries a ``spec``
    (:class:`~ivos_core.models.ModelSpec`), in which case ``kind="interactive"``, ``model``,
    ``encoding`` and ``use_mask`` are taken from it (the caller's keys win). Other keys are kept
    under ``"config"``. ``train_extra`` is JSON-able resume state (e.g. the data RNG, stage).
    Files are written atomically (temp file + rename), the JSON last.
    """
    paths = CheckpointPaths.of(path)
    paths.base.parent.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {}
    spec = getattr(model, "spec", None)
    if spec is not None:
        header.update(kind="interactive", model=spec.name, encoding=spec.encoding, use_mask=spec.use_mask)
    for key in ("kind", "model", "encoding", "use_mask"):
        if key in config:
            header[key] = config[key]
    missing = [k for k in ("kind", "model") if k not in header]
    if missing:
        raise ValueError(f"save_checkpoint: config must give {missing} (model has no .spec to take them from)")

    _save_tensors(paths.weights, dict(model.state_dict()), meta={"format": FORMAT, "kind": str(header["kind"])})
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **header,
        "ivos_version": _ivos_version(),
        "step": step,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "weights_sha256": file_sha256(paths.weights),
        "config": {k: v for k, v in config.items() if k not in header},
    }
    if optimizer_state is not None or rng_state is not None or train_extra is not None:
        tensors: dict[str, torch.Tensor] = {}
        opt_json: dict[str, Any] | None = None
        if optimizer_state is not None:
            opt_json = {"param_groups": optimizer_state.get("param_groups", []), "state": {}}
            for idx, st in optimizer_state.get("state", {}).items():
                plain = {}
                for name, val in st.items():
                    if isinstance(val, torch.Tensor):
                        tensors[f"optim.{idx}.{name}"] = val
                    else:
                        plain[name] = val
                opt_json["state"][str(idx)] = plain
        if rng_state is not None:
            tensors["rng.torch"] = rng_state
        if not tensors:
            tensors["empty"] = torch.zeros(0)
        _save_tensors(paths.state, tensors, meta={"format": FORMAT, "kind": "train-state"})
        doc["train_state"] = {
            "optimizer": opt_json,
            "extra": dict(train_extra or {}),
            "state_sha256": file_sha256(paths.state),
        }
    atomic_write(paths.config, json.dumps(doc, indent=2, default=str).encode("utf-8"))
    return paths


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check the JSON half of a checkpoint (no weights)."""
    paths = CheckpointPaths.of(path)
    if not paths.config.is_file():
        hint = " (the weights file is there but its JSON config is missing)" if paths.weights.is_file() else ""
        raise CheckpointError(f"expected a checkpoint config at {paths.config}, found nothing{hint}")
    try:
        doc = json.loads(paths.config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{paths.config} is not valid JSON ({exc}); expected an ivos checkpoint config") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise CheckpointError(f"{paths.config}: expected format {FORMAT!r}, found {found!r}")
    if int(doc.get("format_version", -1)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{paths.config}: format_version {doc.get('format_version')} is newer than this ivos "
            f"reads ({FORMAT_VERSION}); upgrade ivos"
        )
    return doc


def load_checkpoint(
    path: str | Path, *, expected_kind: str, expected_model: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint: ``(state_dict, config document)``.

    Raises :class:`CheckpointError` when the files are missing/corrupt, the kind (e.g.
    ``"interactive"`` vs ``"osvos"``) or the model name differs from what is expected, or the
    weights do not match the config's checksum.
    """
    paths = CheckpointPaths.of(path)
    doc = read_config(paths.base)
    if doc.get("kind") != expected_kind:
        raise CheckpointError(
            f"{paths.base}: expected a checkpoint of kind {expected_kind!r}, found kind "
            f"{doc.get('kind')!r} (model {doc.get('model')!r})"
        )
    if expected_model is not None and doc.get("model") != expected_model:
        raise CheckpointError(
            f"{paths.base}: expected model {expected_model!r}, found model {doc.get('model')!r}"
        )
    state = _read_tensors(paths.weights, f"checkpoint {paths.base}")
    want = doc.get("weights_sha256")
    if want and file_sha256(paths.weights) != want:
        raise CheckpointError(
            f"{paths.weights}: checksum differs from the one recorded in {paths.config.name} "
            "(file replaced or truncated after saving)"
        )
    return state, doc


def load_train_state(path: str | Path) -> TrainState | None:
    """The resume state saved with a checkpoint, or None when it has none."""
    paths = CheckpointPaths.of(path)
    doc = read_config(paths.base)
    ts = doc.get("train_state")
    if not ts:
        return None
    tensors = _read_tensors(paths.state, f"training state of {paths.base}")
    if ts.get("state_sha256") and file_sha256(paths.state) != ts["state_sha256"]:
        raise CheckpointError(f"{paths.state}: checksum differs from the one in {paths.config.name}")
    opt = None
    if ts.get("optimizer") is not None:
        state: dict[int, dict[str, Any]] = {}
        for idx, plain in ts["optimizer"]["state"].items():
            state[int(idx)] = dict(plain)
        for key, val in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = val
        opt = {"state": state, "param_groups": ts["optimizer"]["param_groups"]}
    return TrainState(optimizer_state=opt, rng_torch=tensors.get("rng.torch"), extra=dict(ts.get("extra", {})))


# kind -> builder(config document) -> nn.Module (other model families register theirs)
_BUILDERS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {}


def register_model_builder(kind: str, builder: Callable[[dict[str, Any]], nn.Module]) -> None:
    """Let :func:`load_model` build checkpoints of ``kind`` (e.g. ``"osvos"``)."""
    _BUILDERS[kind] = builder


def _build_interactive(doc: dict[str, Any]) -> nn.Module:
    from ivos_core.models import build_interactive

    try:
        return build_interactive(
            str(doc.get("model")), encoding=doc.get("encoding", "gaussian"), use_mask=bool(doc.get("use_mask", True))
        )
    except ValueError as exc:
        raise CheckpointError(f"checkpoint names a model this ivos cannot build: {exc}") from exc


register_model_builder("interactive", _build_interactive)


def load_model(
    path: str | Path, expected_kind: str = "interactive", *, expected_model: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the checkpoint's model from its config and load the weights (eval mode, CPU)."""
    state, doc = load_checkpoint(path, expected_kind=expected_kind, expected_model=expected_model)
    builder = _BUILDERS.get(expected_kind)
    if builder is None:
        raise CheckpointError(f"no model builder registered for kind {expected_kind!r}; known: {sorted(_BUILDERS)}")
    model = builder(doc)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{CheckpointPaths.of(path).base}: weights do not fit model {doc.get('model')!r} "
            f"(encoding {doc.get('encoding')!r}, use_mask {doc.get('use_mask')!r}): "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, shape mismatch {shapes[:3]}"
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, doc
