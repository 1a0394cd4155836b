"""WebSocket handshakes refused before any route or key check runs.

- A path the service has no WebSocket route at gets HTTP 404, key or not: the client's
  URL is wrong, and saying so reveals nothing a key protects (Starlette alone answers
  403, which a client reads as a refused key).
- With no API key set (ORPHEUS_API_KEY), a handshake whose `Origin` is neither the
  service's own (its `Host`) nor one of ORPHEUS_CORS_ORIGINS gets HTTP 403: any web
  page the local user opens could otherwise synthesize through `ws://127.0.0.1:PORT`
  (browsers do not apply CORS to WebSockets). Clients that send no `Origin` (unmute's,
  every non-browser client) are not affected; with a key set, the key decides.

Where the server cannot send an HTTP denial, the handshake is closed instead (1008).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from orpheus_service.api.middleware.log_filters import ended_on_purpose

CLOSE_POLICY = 1008


def origin_allowed(origin: str, host: str | None, allowed: Collection[str]) -> bool:
    """Whether a page from `origin` may open a WebSocket on the service at `host`."""
    if "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}:
        return True
    netloc = urlsplit(origin).netloc
    return bool(host) and netloc.lower() == (host or "").lower()


class WebSocketGuardMiddleware:
    """ASGI middleware: 404 for a WebSocket on an unknown path; with `check_origin`, 403
    for one from a foreign page. See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        allowed_origins: Collection[str] = (),
        check_origin: bool = False,
    ) -> None:
        self.app = app
        self.routes = routes  # the app's route list, read when a handshake comes
        self.allowed_origins = frozenset(allowed_origins)
        self.check_origin = check_origin

    def _routed(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if not self._routed(scope):
            path: str = scope["path"]
            await _refuse(scope, receive, send, 404, f"no WebSocket route at {path}")
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            self.check_origin
            and origin is not None
            and not origin_allowed(origin, headers.get("host"), self.allowed_origins)
        ):
            message = "this origin may not use the service (ORPHEUS_CORS_ORIGINS)"
            await _refuse(scope, receive, send, 403, message)
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    ended_on_purpose()  # logged once, as uvicorn's request line with the status
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        response = PlainTextResponse(text + "\n", status_code=status)
        start = {"type": "websocket.http.response.start", "status": status}
        await send({**start, "headers": response.raw_headers})
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": text[:120]})
