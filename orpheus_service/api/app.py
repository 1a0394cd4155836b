"""The Orpheus TTS service as a plain ASGI app (FastAPI); no Modal import.

`create_app(settings, deps)` builds the app. `deps` is either a ready
`ServiceDeps` (tests pass a real or fake engine) or an async factory called at
startup; by default `orpheus_service.api.wiring.build_deps` connects to llama-server
and loads SNAC from the settings. Endpoints:

- POST /v1/audio/speech, POST /v1/audio/speech/stream (routes_openai)
- WS /v1/audio/speech/stream/ws, WS /api/tts_streaming (routes_ws)
- GET /v1/audio/voices, GET /v1/models, GET /metrics; GET /health (no key needed)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response

from orpheus_service.api.auth import ApiKeyChecker, ApiKeyMiddleware
from orpheus_service.api.responses import error_response
from orpheus_service.api.routes_openai import get_context
from orpheus_service.api.routes_openai import router as openai_router
from orpheus_service.api.routes_ws import router as ws_router
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.sessions import (
    ServiceContext,
    ServiceError,
    SessionLimiter,
    SpeechEngine,
)
from orpheus_service.settings import OrpheusSettings

log = logging.getLogger(__name__)


def _always_ready() -> bool:
    return True


@dataclass
class ServiceDeps:
    """What the service runs on: the engine, health probes, and cleanup."""

    engine: SpeechEngine
    check_llama: Callable[[], Awaitable[str | None]]
    """None when llama-server answers, else a reason."""
    snac_ready: Callable[[], bool] = _always_ready
    aclose: Callable[[], Awaitable[None]] | None = None
    """Called at shutdown (close HTTP clients, stop the scheduler)."""
    scheduler: Any = None
    """The DecodeScheduler, when there is one (for inspection)."""


DepsFactory = Callable[[OrpheusSettings, ServiceMetrics], Awaitable[ServiceDeps]]


def _context(
    settings: OrpheusSettings, deps: ServiceDeps, metrics: ServiceMetrics
) -> ServiceContext:
    return ServiceContext(
        settings=settings,
        engine=deps.engine,
        metrics=metrics,
        limiter=SessionLimiter(settings.max_sessions),
        check_llama=deps.check_llama,
        snac_ready=deps.snac_ready,
    )


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
    factory: DepsFactory | None = None if isinstance(deps, ServiceDeps) else deps

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        built: ServiceDeps | None = None
        if ready is None:
            make = factory
            if make is None:
                from orpheus_service.api.wiring import build_deps

                make = build_deps
            built = await make(settings, metrics)
            app.state.orpheus = _context(settings, built, metrics)
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
    if ready is not None:
        app.state.orpheus = _context(settings, ready, metrics)
        app.state.deps = ready
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if not key:
        log.warning("ORPHEUS_API_KEY is not set: every endpoint accepts unauthenticated requests")
    app.add_middleware(ApiKeyMiddleware, checker=ApiKeyChecker(key))
    app.include_router(openai_router)
    app.include_router(ws_router)
    _add_ops_routes(app, metrics)
    _add_error_handlers(app)
    return app


def _add_ops_routes(app: FastAPI, metrics: ServiceMetrics) -> None:
    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        """200 when llama-server answers and SNAC is loaded, else 503 with the reason."""
        ctx: ServiceContext | None = getattr(request.app.state, "orpheus", None)
        if ctx is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        llama = await ctx.check_llama()
        snac = ctx.snac_ready()
        ok = llama is None and snac
        return JSONResponse(
            {
                "status": "ok" if ok else "unavailable",
                "llama": "ok" if llama is None else llama,
                "snac": "loaded" if snac else "not loaded",
                "active_sessions": ctx.limiter.active,
                "max_sessions": ctx.limiter.capacity,
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text format."""
        return Response(metrics.render(), media_type=metrics.content_type)


def _add_error_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return error_response(exc.status, exc.code, exc.message)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _jsonable(list(exc.errors()))
        first = errors[0] if errors else {}
        loc: list[Any] = list(first.get("loc", ()))
        param = ".".join(str(part) for part in loc if part != "body") or None
        message = f"{param or 'request'}: {first.get('msg', 'invalid request')}"
        return error_response(422, "invalid_value", message, param=param, extra={"detail": errors})

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    """The JSON-safe part of pydantic's errors: type, loc, msg."""
    out: list[dict[str, Any]] = []
    for error in errors:
        if isinstance(error, dict):
            fields = cast(dict[str, Any], error)
            out.append({k: fields[k] for k in ("type", "loc", "msg") if k in fields})
    return out


__all__ = ["DepsFactory", "ServiceDeps", "create_app", "get_context"]
