"""Operations endpoints: GET /health (no key needed) and GET /metrics (Prometheus; the API
key, ORPHEUS_METRICS_TOKEN, or open with ORPHEUS_METRICS_OPEN)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from orpheus_service.api.context import ServiceContext
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.middleware.auth import unauthorized_response
from orpheus_service.api.middleware.http_metrics import metrics_allowed
from orpheus_service.settings import OrpheusSettings

router = APIRouter()


@router.get("/health")
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


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; who may read it: `http_metrics.metrics_allowed`."""
    settings = cast(OrpheusSettings, request.app.state.settings)
    if not metrics_allowed(settings, request.headers):
        return unauthorized_response()
    metrics = cast(ServiceMetrics, request.app.state.metrics)
    return Response(metrics.render(), media_type=metrics.content_type)
