"""Small helpers shared by the whole library: one copy of each.

* :func:`safe_name`: a string as one filesystem-safe path component.
* :func:`atomic_path` / :func:`atomic_write`: write beside the target, then ``os.replace``, so a
  reader sees the old file or the new one, never half of one (the file gets the usual
  permissions, 0o666 less the umask).
* :func:`file_sha256`: the content hash of a file (hex), read in 1 MiB blocks.
* :func:`resolve_device`: ``"auto"`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:N"`` (or another torch
  device string) -> ``torch.device``.
* :func:`to_rgb_uint8` (lenient: floats, bools, other integers) and :func:`as_rgb_uint8` (strict:
  uint8 only): any common image array -> ``(H, W, 3)`` C-contiguous ``uint8`` RGB.
* :func:`as_bool_mask`: a 2-D array (non-zero = object) -> ``(H, W)`` bool, with an error that
  names the argument and, given ``shape``, the ground truth's shape it must match.

Nothing here imports torch at import time (analytics uses these helpers too).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "config_dict",
    "flush_denormals",
    "safe_name", "atomic_path", "atomic_write", "file_sha256", "resolve_device", "to_rgb_uint8", "as_rgb_uint8",
    "as_bool_mask",
]


def config_dict(config: object) -> dict:
    """A config dataclass as a JSON-ready dict: tuples become lists (JSON has no tuples; the
    configs' ``from_dict`` turn them back), so one saved config reads back equal."""
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}  # type: ignore[call-overload]


def safe_name(s: str, *, max_len: int = 150) -> str:
    """``s`` as one path component: characters outside ``[A-Za-z0-9._-]`` become ``_``, no
    leading/trailing dots, at most ``max_len`` characters, never empty."""
    out = re.sub(r"[^A-Za-z0-9._-]", "_", s).strip(".")
    return out[:max_len] or "_"


def _new_sibling(target: Path) -> Path:
    """Create an empty, uniquely named ``.<name>.<random>.tmp<suffix>`` beside ``target`` with the
    permissions a plain ``open(target, "w")`` would give (0o666 less the umask; ``mkstemp``'s
    0o600 would make results unreadable to other users of a shared folder). The name keeps the
    target's suffix, so writers that infer a format from it (matplotlib, pandas) still do."""
    for _ in range(100):
        cand = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(cand, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return cand
    raise FileExistsError(f"no free temporary name beside {target}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically (on
    failure the temporary file is removed and ``path`` is untouched)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _new_sibling(target)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], object], *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``.

    ``data``: bytes, text (written with ``encoding``), or a callable ``write(tmp_path)`` that
    writes the file itself (e.g. ``lambda t: image.save(t, format="PNG")``).
    """
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        elif isinstance(data, str):
            tmp.write_text(data, encoding=encoding)
        else:
            data(tmp)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes (same bytes = same hash, whatever the file's name)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def flush_denormals() -> bool:
    """Treat denormal floats as zero on the CPU (FTZ/DAZ) for this process; True where supported.

    Adam with L2 weight decay drives unused OSVOS weights towards zero through the denormal range,
    and x86 arithmetic on denormals is many times slower: a warm-restarted ``lite`` parent slowed
    from 0.35 to 2.6 s per step as 31% of its weights went denormal (0.48 vs 4.2 s per batch-8
    forward+backward at 320 px, with vs without flushing; the shipped v1 parent holds 6692). The
    values lost are below 1.2e-38: no effect on any result. Called by the training, fine-tuning and
    parent-loading code, so every process that adapts or runs OSVOS gets it.
    """
    import torch

    return bool(torch.set_flush_denormal(True))


def resolve_device(device: "str | torch.device" = "auto") -> "torch.device":
    """``"auto"`` -> CUDA when available else CPU; ``cpu``, ``cuda``, ``cuda:N``, any other device
    string torch understands (``mps``, ``cpu:0``, ...) or a ``torch.device`` as given; anything
    else is a ValueError that lists the choices."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}") from exc


def _three_channels(a: np.ndarray) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {a.shape}")
    return a[..., :3]


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Strict: a ``uint8`` grey, RGB or RGBA (alpha dropped) image -> ``(H, W, 3)`` uint8 RGB;
    any other dtype is a TypeError (no guessing of the value range)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise TypeError(
            f"image must be uint8 (0..255), got {a.dtype}; convert floats in [0, 1] with "
            "(img * 255).round().astype(np.uint8)"
        )
    return np.ascontiguousarray(_three_channels(a))


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Lenient: grey / RGB / RGBA, ``uint8``, float in [0, 1] (scaled by 255; larger floats
    clipped), bool (0/255) or another integer type (clipped to 0..255) -> ``(H, W, 3)`` uint8 RGB."""
    a = _three_channels(np.asarray(image))
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image is empty: shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image has NaN or infinite values")
        a = np.clip(a * 255.0 if a.max(initial=0) <= 1.0 else a, 0, 255).round().astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer) and a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (or float in [0, 1]) image, got dtype {a.dtype}")
    return np.ascontiguousarray(a)


def as_bool_mask(a: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``a`` as a 2-D bool array (no copy when it already is one); raise ValueError saying what
    was wrong with it: not 2-D, or (given ``shape``, the ground truth's) a different shape."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) mask, got an array of shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape} but the ground truth has shape {shape}; resize one of them")
    return a.astype(bool, copy=False)
