"""The annotation app's shared state: the open sessions and the answers built from them.

Every route module gets one :class:`AppState`, so the open workspaces, their save history and the
video catalogue live in one object instead of in closures spread over the app factory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import HTTPException

from ivos_core.annotation import Workspace, save_new_session
from ivos_core.annotation.workspace import SharedMethod
from ivos_core.paths import UnsafePathError, resolve_video_ref

if TYPE_CHECKING:
    from flows.annotate.app import AnnotateConfig


def mask_rle(mask: np.ndarray | None) -> dict[str, Any] | None:
    """Row-major run lengths of a bool mask, starting with a run of 0s: what the page decodes."""
    if mask is None:
        return None
    flat = np.asarray(mask, dtype=bool).reshape(-1)
    h, w = mask.shape
    if flat.size == 0:
        return {"size": [h, w], "counts": []}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": counts, "area": int(flat.sum())}


def jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    """One RGB frame as JPEG bytes (an encoder failure is the server's fault: 500)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise HTTPException(500, "JPEG encoding failed")
    return buf.tobytes()


@dataclass
class AppState:
    """The config plus what the app keeps between requests: open workspaces (oldest first),
    per-session meta (``{user_id, saved: [{version, path, session_id}]}``) and the video catalogue."""

    config: AnnotateConfig
    shared: SharedMethod
    sessions: dict[str, Workspace] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    catalog: dict[str, Any] = field(default_factory=lambda: {"at": 0.0, "videos": []})

    def ws_of(self, sid: str) -> Workspace:
        """The open workspace of ``sid``, or a 404 that says how to open one."""
        ws = self.sessions.get(sid)
        if ws is None:
            raise HTTPException(404, f"no open session {sid!r}; open a video first (POST /api/sessions)")
        return ws

    def resolve(self, uri: str) -> Path:
        """A video reference as a path inside the configured roots (refused outside them)."""
        if not self.config.roots:
            raise UnsafePathError("no video roots are configured; start with --roots DIR")
        return resolve_video_ref(uri, self.config.roots)

    def describe(self, sid: str, ws: Workspace) -> dict[str, Any]:
        """The session as the page shows it: frames, iterations, propagation state, saves."""
        rec = ws.record
        return {
            "session_id": sid,
            "user_id": self.meta[sid]["user_id"],
            "video": ws.video_ref().model_dump(exclude_none=True),
            "first_frame": rec.first_frame,
            "frames": [{"frame_index": i, "stage": rec.frames[i].stage, "iterations": len(rec.frames[i].iterations)}
                       for i in rec.order],
            "n_iterations": rec.n_iterations(),
            "propagated": sorted(ws.propagated),
            "round": ws.round,
            "stale": ws.stale,
            "progress": dict(ws.progress),
            "saved": [s["path"] for s in self.meta[sid]["saved"]],
        }

    def save_current(self, sid: str, ws: Workspace) -> dict[str, Any]:
        """Save the session unless this version is already saved; a re-save gets ``-rN``."""
        saved = self.meta[sid]["saved"]
        if saved and saved[-1]["version"] == ws.record.version:
            return saved[-1]
        out_id = sid if not saved else f"{sid}-r{len(saved) + 1}"
        session = ws.to_session(session_id=out_id, user_id=self.meta[sid]["user_id"],
                                meta={"model": self.config.model_name, "propagation_rounds": ws.round,
                                      **self.config.extra_meta})
        path = save_new_session(session, self.config.sessions_dir)
        rec = {"version": ws.record.version, "path": str(path), "session_id": out_id}
        saved.append(rec)
        return rec


def mask_answer(ws: Workspace, i: int, mask: np.ndarray | None, **extra: Any) -> dict[str, Any]:
    """The answer to every edit of frame ``i``: its mask as RLE plus the frame's edit state."""
    fw = ws.record.frames.get(i)
    return {"frame_index": i, "mask": mask_rle(mask), "iterations": len(fw.iterations) if fw else 0,
            "stage": fw.stage if fw else None, "n_iterations": ws.record.n_iterations(), "stale": ws.stale, **extra}
