"""What the routes share: the context built from the service's dependencies at startup,
found from any request of the app, and closing every live session at shutdown."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from orpheus_service.api.context import Outcome, ServiceContext, ServiceDeps, get_context
from orpheus_service.api.metrics import ServiceMetrics
from tests.support.service_support import FakeEngine, llama_ok, service_settings


def context(**settings: int) -> ServiceContext:
    deps = ServiceDeps(engine=FakeEngine(), check_llama=llama_ok, snac_ready=lambda: False)
    return ServiceContext.build(service_settings(**settings), deps, ServiceMetrics())


class RecordingSession:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.outcomes: list[Outcome] = []

    async def close(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.ctx.sessions.discard(self)  # as a real session leaves when it ends


def test_the_context_runs_on_the_dependencies_engine_and_probes() -> None:
    deps = ServiceDeps(engine=FakeEngine(), check_llama=llama_ok, snac_ready=lambda: False)
    ctx = ServiceContext.build(service_settings(), deps, ServiceMetrics())
    assert ctx.engine is deps.engine
    assert ctx.check_llama is llama_ok
    assert ctx.snac_ready() is False


def test_the_session_limiter_has_the_configured_capacity() -> None:
    ctx = context(max_sessions=3, max_sessions_per_client=2)
    assert (ctx.limiter.capacity, ctx.limiter.per_client) == (3, 2)


async def test_shutdown_closes_every_live_session_as_shut_down() -> None:
    ctx = context()
    sessions = [RecordingSession(ctx) for _ in range(3)]
    ctx.sessions.update(sessions)
    await ctx.shutdown()
    assert [s.outcomes for s in sessions] == [["shutdown"]] * 3
    assert ctx.sessions == set()


def test_a_request_finds_the_context_of_the_app_serving_it() -> None:
    ctx = context()

    async def route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("same" if get_context(request) is ctx else "other")

    app = Starlette(routes=[Route("/", route)])
    app.state.orpheus = ctx
    with TestClient(app) as client:
        assert client.get("/").text == "same"
