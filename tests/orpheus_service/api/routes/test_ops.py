"""GET /health on a fake engine: ok, or 503 naming what is down."""

from __future__ import annotations

import httpx

from orpheus_service.api.app import ServiceDeps, create_app
from tests.support.service_support import (
    FakeEngine,
    ServerThread,
    service_settings,
)


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
