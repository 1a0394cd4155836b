"""create_app: every protocol's routes, and dependencies built at startup, closed at the end."""

from __future__ import annotations

from fastapi.testclient import TestClient

from orpheus_service.api.app import create_app
from orpheus_service.api.context import ServiceDeps
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.settings import OrpheusSettings
from tests.support.service_support import FakeEngine, service_settings, unpack


async def llama_ok() -> str | None:
    return None


def test_every_protocol_is_served() -> None:
    app = create_app(service_settings(), ServiceDeps(engine=FakeEngine(), check_llama=llama_ok))
    with TestClient(app) as client:
        for path in ("/health", "/v1/models", "/v1/audio/voices", "/"):
            assert client.get(path).status_code == 200, path
        speech = {"input": "Hi.", "voice": "tara", "response_format": "pcm"}
        assert client.post("/v1/audio/speech", json=speech).status_code == 200
        with client.websocket_connect("/api/tts_streaming?format=PcmMessagePack") as socket:
            assert unpack(socket.receive_bytes()) == {"type": "Ready"}
        with client.websocket_connect("/v1/audio/speech/stream/ws?voice=tara") as socket:
            socket.send_text("Hi.")
            assert socket.receive_bytes()  # 16-bit PCM


def test_a_deps_factory_runs_at_startup_and_its_cleanup_at_shutdown() -> None:
    events: list[str] = []

    async def aclose() -> None:
        events.append("closed")

    async def factory(settings: OrpheusSettings, metrics: ServiceMetrics) -> ServiceDeps:
        events.append("built")
        return ServiceDeps(engine=FakeEngine(), check_llama=llama_ok, aclose=aclose)

    app = create_app(service_settings(), factory)
    assert events == []
    with TestClient(app) as client:
        assert events == ["built"]
        assert client.get("/health").status_code == 200
    assert events == ["built", "closed"]
