"""Every HTTP request and WebSocket handshake counted by route, method and status, and
who may read GET /metrics.

`RequestMetricsMiddleware` sits outside every other middleware, so requests refused
by the key check (401), by validation (422) or that failed (500) are counted too. The
route label is the route's template (`/v1/audio/speech`), never the raw path, so
unknown paths cannot grow the label set: they count as `unmatched`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.middleware.auth import ApiKeyChecker
from orpheus_service.settings import OrpheusSettings

UNMATCHED = "unmatched"
CLIENT_GONE = "499"
"""Status label of a request whose client left before any response (nginx's code)."""


def _leaf_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """`routes` with included routers (FastAPI's `_IncludedRouter`) replaced by theirs."""
    leaves: list[BaseRoute] = []
    for route in routes:
        included: Router | None = getattr(route, "original_router", None)
        if included is not None:
            leaves += _leaf_routes(included.routes)
        else:
            leaves.append(route)
    return leaves


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route serving `scope` (a wrong method still names it)."""
    partial: str | None = None
    for route in _leaf_routes(routes):
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        if match == Match.FULL:
            return path
        if match == Match.PARTIAL and partial is None:
            partial = path
    return partial or UNMATCHED


class RequestMetricsMiddleware:
    """ASGI middleware counting `orpheus_http_requests_total{route,method,status}`."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status: list[str] = []

        async def watch(message: Message) -> None:
            kind = message["type"]
            if not status:
                if kind in ("http.response.start", "websocket.http.response.start"):
                    status.append(str(message["status"]))
                elif kind == "websocket.accept":
                    status.append("101")
                elif kind == "websocket.close":
                    status.append("403")  # closed during the handshake: refused
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not status:
                status.append("500")
            raise
        finally:
            method = "WEBSOCKET" if scope["type"] == "websocket" else str(scope["method"])
            route = route_template(self.router.routes, scope)
            self.metrics.http_requests.labels(
                route, method, status[0] if status else CLIENT_GONE
            ).inc()


def metrics_allowed(settings: OrpheusSettings, headers: Mapping[str, str]) -> bool:
    """Whether a GET /metrics with `headers` may read the metrics.

    Open when ORPHEUS_METRICS_OPEN is true, or when neither ORPHEUS_API_KEY nor
    ORPHEUS_METRICS_TOKEN is set; otherwise either of them as `Authorization: Bearer`.
    """
    if settings.metrics_open:
        return True
    keys = [
        secret.get_secret_value()
        for secret in (settings.api_key, settings.metrics_token)
        if secret is not None and secret.get_secret_value()
    ]
    return not keys or any(ApiKeyChecker(key).allowed(headers) for key in keys)
