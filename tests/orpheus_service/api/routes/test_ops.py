"""GET /health on a fake engine: ok, or 503 naming what is down."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orpheus_service.api.app import ServiceDeps, create_app
from tests.support.service_support import (
    FakeEngine,
    ServerThread,
    service_settings,
    start_fake_service,
)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunks_per_word=2)


@pytest.fixture
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, max_sessions=1)
    yield srv
    srv.stop()


def test_health_is_ok_when_llama_answers_and_snac_is_loaded(server: ServerThread) -> None:
    r = httpx.get(f"{server.http}/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_health_is_503_naming_llama_when_it_is_unreachable() -> None:
    async def down() -> str | None:
        return "connection refused"

    app = create_app(service_settings(), ServiceDeps(engine=FakeEngine(), check_llama=down))
    srv = ServerThread(app).start()
    try:
        r = httpx.get(f"{srv.http}/health")
    finally:
        srv.stop()
    assert r.status_code == 503 and r.json()["llama"] == "connection refused"
