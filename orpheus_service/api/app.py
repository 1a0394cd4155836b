"""The Orpheus TTS service as a plain ASGI app (FastAPI); no Modal import.

`create_app(settings, deps)` builds the app. `deps` is either a ready
`ServiceDeps` (tests pass a real or fake engine) or an async factory called at
startup; by default `orpheus_service.api.wiring.build_deps` connects to llama-server
and loads SNAC from the settings. Endpoints:

- POST /v1/audio/speech, POST /v1/audio/speech/stream (routes.openai)
- WS /api/tts_streaming (routes.unmute), WS /v1/audio/speech/stream/ws (routes.pcm_socket)
- GET /v1/audio/voices, GET /v1/models (routes.openai)
- GET /metrics; GET /health, no key needed (routes.ops)
- GET /, the playground page, no key needed (routes.playground)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from orpheus_service.api.context import DepsFactory, ServiceContext, ServiceDeps
from orpheus_service.api.errors import add_error_handlers
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.middleware.auth import ApiKeyChecker, ApiKeyMiddleware
from orpheus_service.api.middleware.body_limit import RequestBodyLimitMiddleware
from orpheus_service.api.middleware.browser_auth import (
    SubprotocolKeyMiddleware,
    add_cors,
    parse_origins,
)
from orpheus_service.api.middleware.http_metrics import RequestMetricsMiddleware
from orpheus_service.api.middleware.log_filters import install_log_filters
from orpheus_service.api.middleware.websocket_guard import WebSocketGuardMiddleware
from orpheus_service.api.routes import openai, ops, pcm_socket, playground, unmute
from orpheus_service.api.wiring import build_deps
from orpheus_service.settings import OrpheusSettings

log = logging.getLogger(__name__)


def create_app(
    settings: OrpheusSettings | None = None,
    deps: ServiceDeps | DepsFactory | None = None,
    *,
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """The service's ASGI app. See the module docstring."""
    settings = settings or OrpheusSettings.load()
    metrics = metrics or ServiceMetrics()
    ready: ServiceDeps | None = deps if isinstance(deps, ServiceDeps) else None
    factory: DepsFactory = build_deps if deps is None or isinstance(deps, ServiceDeps) else deps

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        if ready is None:
            built = await factory(settings, metrics)
            app.state.orpheus = ServiceContext.build(settings, built, metrics)
            app.state.deps = built
        try:
            yield
        finally:
            ctx: ServiceContext | None = getattr(app.state, "orpheus", None)
            if ctx is not None:
                await ctx.shutdown()
            current: ServiceDeps | None = getattr(app.state, "deps", None)
            if current is not None and current.aclose is not None:
                await current.aclose()

    app = FastAPI(title="Orpheus TTS", version="0.1.0", lifespan=lifespan)
    app.state.metrics = metrics
    app.state.settings = settings
    if ready is not None:
        app.state.orpheus = ServiceContext.build(settings, ready, metrics)
        app.state.deps = ready
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    install_log_filters(key)  # no key in uvicorn's request lines, no false ERROR lines
    if not key:
        log.warning("ORPHEUS_API_KEY is not set: every endpoint accepts unauthenticated requests")
    # Innermost first: the key check; the browser key subprotocol before it; WebSockets
    # on unknown paths (404) or from foreign pages without a key (403) before both; the body
    # size bound before those (a huge body is refused before anything reads it, key or
    # not); CORS preflights before all of them (so a page can read a 413 too); request
    # counting outside everything, refusals included.
    # /metrics checks its own reader (http_metrics.metrics_allowed); the page needs none.
    open_paths = ("/health", "/metrics", *playground.PLAYGROUND_PATHS)
    app.add_middleware(ApiKeyMiddleware, checker=ApiKeyChecker(key), open_paths=open_paths)
    app.add_middleware(SubprotocolKeyMiddleware)
    app.add_middleware(
        WebSocketGuardMiddleware,
        routes=app.router.routes,
        allowed_origins=parse_origins(settings.cors_origins),
        check_origin=not key,
    )
    app.add_middleware(RequestBodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    add_cors(app, parse_origins(settings.cors_origins))
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, router=app.router)
    for routes in (openai, unmute, pcm_socket, ops, playground):
        app.include_router(routes.router)
    add_error_handlers(app)
    return app


__all__ = ["DepsFactory", "ServiceDeps", "create_app"]
