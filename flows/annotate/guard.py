"""The annotation app's ASGI guard: one place that decides whether a request may reach a route.

Kept apart from the routes so that the safety rules (token, loopback host, same origin, body
size) can be read and reviewed on their own; :func:`flows.annotate.app.create_app` installs it.
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class _Guard:
    """ASGI middleware: body size limit, token, loopback host, same-origin for changes."""

    def __init__(self, app: Any, *, token: str | None, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def _deny(self, send: Any, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _token_ok(self, scope: dict, headers: dict[str, str]) -> bool:
        given = headers.get("x-ivos-token")
        if given is None:
            for part in headers.get("cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == "ivos_token":
                    given = v
        if given is None:
            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), str(self.token).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.token is None and hostname not in LOOPBACK_HOSTS and hostname != "testserver":
            return await self._deny(send, 403, f"host {host!r} refused: without a token this app only answers on a loopback address")
        if self.token is not None and not path.startswith("/static/") and not self._token_ok(scope, headers):
            return await self._deny(send, 401, "missing or wrong token: open the page with ?token=<token> or send X-IVOS-Token")
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                return await self._deny(send, 403, f"cross-origin request from {origin!r} refused")
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body:
                return await self._deny(send, 413, f"request body of {length} bytes is too large (limit {self.max_body})")
            return await self.app(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise HTTPException(413, f"request body is too large (limit {self.max_body} bytes)")
            return msg

        return await self.app(scope, limited, send)
