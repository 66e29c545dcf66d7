"""Session ids that are safe file names, and saving a session log atomically without overwriting.

A saved log is written to a temporary file beside the target, flushed to disk, then hard-linked
to ``<folder>/<session_id>.json``: the link either creates the name with the complete content or
fails because the name exists. A reader never sees half a file, and a saved session is never
replaced by another one (:class:`SessionExistsError`).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import datetime
from pathlib import Path

from ivos_core.interactions import Session, parse_session
from ivos_core.utils import safe_name

__all__ = ["SESSION_ID_PATTERN", "SessionExistsError", "check_session_id", "new_session_id", "save_new_session"]

SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ID = re.compile(SESSION_ID_PATTERN)


class SessionExistsError(FileExistsError):
    """A session log with this id is already saved in the folder (it is never overwritten)."""


def check_session_id(session_id: str) -> str:
    """``session_id`` if it is safe as a file name (letters, digits, ``._-``, at most 128, not
    starting with a dot or dash); :class:`ValueError` naming the rule otherwise."""
    if not isinstance(session_id, str) or not _ID.fullmatch(session_id) or session_id.endswith("."):
        raise ValueError(
            f"session id {session_id!r} is not safe as a file name: use 1-128 letters, digits, '.', '_' "
            f"or '-', starting with a letter or digit (pattern {SESSION_ID_PATTERN})"
        )
    return session_id


def new_session_id(user_id: str, now: datetime) -> str:
    """``<user>-<YYYYmmddTHHMMSS>-<6 hex>``: unique enough, readable, safe."""
    return f"{safe_name(user_id, max_len=40)}-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def save_new_session(session: Session, folder: str | Path) -> Path:
    """Write ``session`` to ``folder/<session_id>.json``; refuse to overwrite.

    The document is validated again from its JSON text first (what is saved is what jobs read).
    Raises :class:`SessionExistsError` when the file exists.
    """
    sid = check_session_id(session.session_id)
    text = session.to_json()
    parse_session(text, source=f"session {sid}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sid}.json"
    if target.exists():
        raise SessionExistsError(f"session {sid} is already saved at {target}; saved sessions are never overwritten")
    fd, tmp = tempfile.mkstemp(prefix=f".{sid}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise SessionExistsError(
                f"session {sid} is already saved at {target}; saved sessions are never overwritten"
            ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
