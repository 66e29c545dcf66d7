"""The annotation app's propagation routes: start it, poll or stream its progress, find weak frames.

Propagation runs in the workspace's background thread; these routes only start it and report on it.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

from flows.annotate.bodies import SID, PropagateBody
from flows.annotate.state import AppState
from ivos_core.annotation import Workspace

EVENTS_MAX_S = 3600
EVENTS_POLL_S = 0.2


def progress_events(ws: Workspace) -> Iterator[str]:
    """Server-sent events of ``ws.progress``: each change once, then ``end`` when it is idle
    (bounded at an hour so a forgotten page cannot hold a worker forever)."""
    last = None
    deadline = time.time() + EVENTS_MAX_S
    yield "retry: 1000\n\n"
    while time.time() < deadline:
        cur = dict(ws.progress)
        if cur != last:
            yield f"data: {json.dumps(cur)}\n\n"
            last = cur
        if cur.get("state") in ("done", "failed", "idle") and not ws.busy:
            yield "event: end\ndata: {}\n\n"
            return
        time.sleep(EVENTS_POLL_S)


def register_propagation_routes(app: FastAPI, st: AppState) -> None:
    """``propagate``, ``progress``, ``events`` (SSE) and ``worst`` of an open session."""

    @app.post("/api/sessions/{sid}/propagate", status_code=202)
    def propagate(body: PropagateBody | None = None, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        steps = body.steps if body is not None and body.steps is not None else st.config.finetune_steps
        ws.start_propagation(steps)
        return dict(ws.progress)

    @app.get("/api/sessions/{sid}/progress")
    def progress(sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        return {**ws.progress, "propagated": len(ws.propagated), "stale": ws.stale}

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str = SID) -> StreamingResponse:
        ws = st.ws_of(sid)
        return StreamingResponse(progress_events(ws), media_type="text/event-stream", headers={"cache-control": "no-store"})

    @app.get("/api/sessions/{sid}/worst")
    def worst(sid: str = SID, k: int = Query(3, ge=1, le=50)) -> dict[str, Any]:
        return {"frames": st.ws_of(sid).worst_frames(k)}
