"""Session: one synthesis on one channel, its failures as ApiError, closed exactly once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import cast

import pytest

from orpheus_service.api.context import ServiceContext, ServiceDeps
from orpheus_service.api.errors import ApiError
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.sessions.session import Session
from orpheus_service.engine.events import EngineEvent
from tests.support.service_support import FakeEngine, service_settings


async def llama_ok() -> str | None:
    return None


def context(engine: FakeEngine, **settings: object) -> ServiceContext:
    deps = ServiceDeps(engine=engine, check_llama=llama_ok)
    return ServiceContext.build(service_settings(**settings), deps, ServiceMetrics())


def sample(ctx: ServiceContext, name: str, **labels: str) -> float:
    return ctx.metrics.registry.get_sample_value(name, labels or None) or 0.0


def opened(ctx: ServiceContext, client: str = "10.0.0.1") -> Session:
    assert ctx.limiter.try_acquire(client) is None
    session = Session(ctx, "speech", client)
    ctx.sessions.add(session)
    return session


async def test_a_finished_session_gives_its_channel_back_once() -> None:
    ctx = context(FakeEngine(), max_sessions=1)
    session = opened(ctx)
    session.start("Hello there.", "tara")
    events = [event async for event in session.events()]
    await session.close("done")
    await session.close("done")
    assert events and ctx.limiter.active == 0 and ctx.sessions == set()
    assert opened(ctx) is not None  # the one channel is free again


async def test_a_failing_synthesis_comes_out_as_an_api_error_counted_by_code() -> None:
    ctx = context(FakeEngine(fail_after_words=0))
    session = opened(ctx)
    session.start("Hello there.", "tara")
    with pytest.raises(ApiError) as info:
        _ = [event async for event in session.events()]
    await session.close("error")
    assert info.value.code == "internal_error"
    assert sample(ctx, "orpheus_errors_total", kind="internal_error") == 1.0


async def test_a_session_closed_before_its_end_counts_a_cancelled_generation() -> None:
    engine = FakeEngine()
    ctx = context(engine)
    session = opened(ctx)
    session.start("one two three four five", "tara")
    async with contextlib.aclosing(cast(AsyncGenerator[EngineEvent], session.events())) as events:
        await anext(events)
    await session.close("client_gone")
    assert sample(ctx, "orpheus_cancelled_generations_total", reason="client_gone") == 1.0


async def test_shutting_the_context_down_closes_every_session() -> None:
    ctx = context(FakeEngine(), max_sessions=2)
    sessions = [opened(ctx, "a"), opened(ctx, "b")]
    for session in sessions:
        session.start("Hello.", "tara")
    await ctx.shutdown()
    assert all(session.closed for session in sessions)
    assert ctx.limiter.active == 0
