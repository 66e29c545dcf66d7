"""Input safety: resolve a session's video reference inside configured data roots.

Jobs run session logs that users upload, so a video reference is untrusted input. The rules:

* a **relative path** (``davis/JPEGImages/480p/bear``) resolves inside the configured roots, the
  first root where it exists wins;
* an **absolute path** must lie inside one of the roots;
* a ``file://`` URL is treated as an absolute path (``file:///data/x.mp4``; ``file://localhost/``);
  every other scheme (``http``, ``s3``, ``ftp``...) is refused;
* ``..`` components that leave a root and symlinks pointing out of a root are refused: the
  candidate is fully resolved (symlinks followed) and then checked against the resolved roots.

Roots come from the caller (``--roots``), else ``IVOS_DATA`` (colon-separated), else
``../shared/data`` and ``./data`` when present. Errors say which roots are allowed and how to
configure them.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Sequence
from urllib.parse import unquote, urlparse

__all__ = ["UnsafePathError", "VideoNotFoundError", "resolve_video_ref", "default_roots", "parse_roots"]

_CONFIGURE = (
    "configure the allowed roots with the IVOS_DATA environment variable (colon-separated, e.g. "
    "IVOS_DATA=/data/davis:/data/videos) or --roots / video_roots"
)


class UnsafePathError(ValueError):
    """A video reference points outside the allowed roots or uses an unsupported scheme."""


class VideoNotFoundError(FileNotFoundError):
    """A (safe) video reference names nothing that exists inside the roots."""


def parse_roots(value: str | Sequence[str | Path] | None) -> list[Path]:
    """``"a:b"`` or ``["a", "b"]`` -> ``[Path("a"), Path("b")]`` (empty entries dropped)."""
    if value is None:
        return []
    items = value.split(os.pathsep) if isinstance(value, str) else [str(v) for v in value]
    return [Path(v).expanduser() for v in items if str(v).strip()]


def default_roots() -> list[Path]:
    """``IVOS_DATA`` (colon-separated) when set, else ``../shared/data`` / ``./data`` if present."""
    env = os.environ.get("IVOS_DATA")
    if env:
        return parse_roots(env)
    repo = Path(__file__).resolve().parents[1]
    return [p for p in (repo.parent / "shared" / "data", repo / "data") if p.is_dir()]


def _roots_text(roots: Sequence[Path]) -> str:
    return ", ".join(str(r) for r in roots) if roots else "(none configured)"


def is_inside(path: Path, root: Path) -> bool:
    """``path`` lies under ``root`` (both already resolved)."""
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _strip_scheme(uri: str, roots: Sequence[Path]) -> tuple[str, bool]:
    """Return ``(path text, came_from_url)``; refuse unsupported schemes."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    # A Windows drive letter ("C:\\x") parses as a one-letter scheme; treat it as a path.
    if not scheme or (len(scheme) == 1 and uri[1:2] == ":"):
        return uri, False
    if scheme != "file":
        raise UnsafePathError(
            f"video reference {uri!r} uses the unsupported scheme {scheme!r}: only paths and file:// "
            f"URLs inside the data roots are allowed (roots: {_roots_text(roots)}); download the video "
            f"into a root first, and {_CONFIGURE}"
        )
    if parsed.netloc not in ("", "localhost"):
        raise UnsafePathError(
            f"video reference {uri!r} names a remote host {parsed.netloc!r}; only local file:// URLs "
            f"inside the data roots are allowed (roots: {_roots_text(roots)})"
        )
    return unquote(parsed.path), True


def resolve_video_ref(uri: str, roots: Sequence[str | Path] | None = None, *, must_exist: bool = True) -> Path:
    """Resolve a session's ``video.uri`` to a real path inside one of ``roots``.

    ``roots``: allowed folders (default :func:`default_roots`). Raises :class:`UnsafePathError` for
    references that escape the roots or use an unsupported scheme, and :class:`VideoNotFoundError`
    (a ``FileNotFoundError``) naming the uri and the roots when nothing exists there.
    """
    root_list = [Path(r).expanduser() for r in roots] if roots is not None else default_roots()
    if not isinstance(uri, str) or not uri.strip():
        raise UnsafePathError(f"empty video reference; expected a path inside the roots ({_roots_text(root_list)})")
    if "\x00" in uri:
        raise UnsafePathError(f"video reference {uri!r} contains a NUL byte")
    text, _from_url = _strip_scheme(uri.strip(), root_list)
    if not root_list:
        raise UnsafePathError(f"no data roots are configured, so video reference {uri!r} cannot be resolved; {_CONFIGURE}")
    resolved_roots = [r.resolve() for r in root_list]
    candidate = Path(text).expanduser() if text.startswith("~") else Path(text)

    if candidate.is_absolute():
        real = candidate.resolve()
        if not any(is_inside(real, r) for r in resolved_roots):
            raise UnsafePathError(
                f"video reference {uri!r} resolves to {real}, which is outside the allowed roots "
                f"({_roots_text(root_list)}); {_CONFIGURE}"
            )
        if must_exist and not real.exists():
            raise VideoNotFoundError(
                f"video {uri!r} not found: {real} does not exist (roots: {_roots_text(root_list)})"
            )
        return real

    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        # Refuse even when it would land back inside: a reference with '..' is never needed.
        raise UnsafePathError(
            f"video reference {uri!r} contains '..'; references must stay inside the data roots "
            f"({_roots_text(root_list)})"
        )
    escaped: list[str] = []
    for root, rroot in zip(root_list, resolved_roots):
        real = (rroot / candidate).resolve()
        if not is_inside(real, rroot):
            escaped.append(f"{root / candidate} -> {real}")
            continue
        if real.exists():
            return real
    if escaped:
        raise UnsafePathError(
            f"video reference {uri!r} escapes the data roots through a symlink ({'; '.join(escaped)}); "
            f"allowed roots: {_roots_text(root_list)}"
        )
    if not must_exist:
        return (resolved_roots[0] / candidate).resolve()
    raise VideoNotFoundError(
        f"video {uri!r} not found in any data root (looked in: {_roots_text(root_list)}); put the video "
        f"there or {_CONFIGURE}"
    )
