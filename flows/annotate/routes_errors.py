"""The annotation app's error answers: each domain error as ``{"detail": ...}`` with its status.

One table so the status of every error (422/409/400/404/500) is decided in a single place.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ivos_core.annotation import AnnotationError, SessionExistsError
from ivos_core.annotation.workspace import ModelFailure
from ivos_core.paths import UnsafePathError, VideoNotFoundError

_STATUS: dict[type[Exception], int] = {
    UnsafePathError: 400,
    VideoNotFoundError: 404,
    ModelFailure: 500,
    SessionExistsError: 409,
}


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # the message and where, without echoing the input (it may be huge, or NaN: not JSON)
    errs = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()][:20]
    text = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errs) or "invalid request"
    return JSONResponse({"detail": text, "errors": errs}, status_code=422)


async def _annotation_error(_: Request, exc: AnnotationError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409 if exc.conflict else 422)


def _fixed_status(status: int):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handler


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error answers on ``app`` (a model crash is a 500; the app keeps serving)."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(AnnotationError, _annotation_error)
    for exc_type, status in _STATUS.items():
        app.add_exception_handler(exc_type, _fixed_status(status))
