"""The annotation web app: a thin FastAPI layer over :mod:`ivos_core.annotation`.

``create_app(AnnotateConfig(...))`` returns the ASGI app; ``ivos annotate`` serves it with
uvicorn. Every ``/api`` answer is JSON; errors are ``{"detail": message}`` with 4xx for bad input
(422 validation, 400 unsafe path, 404 unknown, 409 wrong moment, 413 too large, 401/403 access)
and 500 for a model crash (the app keeps serving).

Safety: with a token every request except the static assets needs it (``X-IVOS-Token`` header,
the ``ivos_token`` cookie set when the page is opened with ``?token=``, or a ``token`` query
parameter); without one the app only answers requests addressed to a loopback host name (no DNS
rebinding), and state-changing requests from another origin are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI

from flows.annotate.bodies import SID, FrameBody, InteractBody, OpenBody, PropagateBody, SubmitBody
from flows.annotate.guard import LOOPBACK_HOSTS, _Guard
from flows.annotate.routes_errors import install_error_handlers
from flows.annotate.routes_jobs import register_job_routes, register_save_routes
from flows.annotate.routes_page import STATIC, register_page_routes
from flows.annotate.routes_propagation import register_propagation_routes
from flows.annotate.routes_sessions import register_edit_routes, register_session_routes
from flows.annotate.state import AppState, mask_rle
from ivos_core.annotation.workspace import SharedMethod

__all__ = [
    "AnnotateConfig", "create_app", "mask_rle", "STATIC", "LOOPBACK_HOSTS", "SID",
    "OpenBody", "FrameBody", "InteractBody", "PropagateBody", "SubmitBody",
]


@dataclass
class AnnotateConfig:
    """What the app needs. ``method``: the interactive method (``set_image``/``predict``);
    ``video_segmenter``: a factory of :class:`~ivos_core.video.VideoSegmenter`; ``jobs``: a
    :class:`flows.annotate.jobs.JobRunner` (None: submitting is off)."""

    roots: list[Path]
    sessions_dir: Path
    method: Any
    video_segmenter: Callable[[], Any]
    jobs: Any = None
    token: str | None = None
    user_id: str = "annotator"
    model_name: str = "model"
    finetune_steps: int | None = None
    max_body_bytes: int = 1 << 20
    max_open_sessions: int = 16
    extra_meta: dict[str, Any] = field(default_factory=dict)


def create_app(config: AnnotateConfig) -> FastAPI:
    """Assemble the app: error answers, the route groups over one shared :class:`AppState`, and
    the guard middleware. ``app.state.sessions``/``meta`` expose the open sessions (tests read them)."""
    app = FastAPI(title="ivos annotate", docs_url=None, redoc_url=None, openapi_url=None)
    st = AppState(config=config, shared=SharedMethod(config.method, name=config.model_name))
    install_error_handlers(app)
    register_page_routes(app, st)
    register_session_routes(app, st)
    register_edit_routes(app, st)
    register_propagation_routes(app, st)
    register_save_routes(app, st)
    register_job_routes(app, st)
    app.add_middleware(_Guard, token=config.token, max_body=config.max_body_bytes)
    app.state.sessions = st.sessions
    app.state.meta = st.meta
    return app
