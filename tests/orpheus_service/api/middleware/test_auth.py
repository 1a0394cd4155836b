"""ORPHEUS_API_KEY: Bearer on every endpoint but /health, kyutai-api-key on unmute's socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from orpheus_service.api.middleware.auth import ApiKeyChecker
from tests.support.service_support import FakeEngine, ServerThread, start_fake_service, unpack

KEY = "sk-test-7f3a"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, api_key=KEY)
    yield srv
    srv.stop()


def test_speech_without_a_key_is_401(server: ServerThread) -> None:
    r = httpx.post(f"{server.http}/v1/audio/speech", json={"input": "hi", "voice": "tara"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_speech_with_a_wrong_key_is_401(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        json={"input": "hi", "voice": "tara"},
        headers={"Authorization": "Bearer sk-wrong"},
    )
    assert r.status_code == 401


def test_speech_with_the_bearer_key_is_served(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        json={"input": "hi", "voice": "tara", "response_format": "pcm"},
        headers=BEARER,
    )
    assert r.status_code == 200 and len(r.content) > 0


@pytest.mark.parametrize("path", ["/v1/models", "/v1/audio/voices", "/metrics"])
def test_every_get_endpoint_but_health_needs_the_key(server: ServerThread, path: str) -> None:
    assert httpx.get(f"{server.http}{path}").status_code == 401
    assert httpx.get(f"{server.http}{path}", headers=BEARER).status_code == 200


def test_health_needs_no_key(server: ServerThread) -> None:
    assert httpx.get(f"{server.http}/health").status_code == 200


def test_malformed_body_without_a_key_is_401_not_422(server: ServerThread) -> None:
    r = httpx.post(f"{server.http}/v1/audio/speech", content=b"{not json")
    assert r.status_code == 401


async def test_unmute_socket_without_a_key_is_refused_at_the_handshake(
    server: ServerThread, engine: FakeEngine
) -> None:
    before = engine.started
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(f"{server.ws}/api/tts_streaming?voice=tara"):
            pass
    assert caught.value.response.status_code == 401
    assert engine.started == before


async def test_unmute_socket_accepts_the_kyutai_api_key_header(server: ServerThread) -> None:
    async with websockets.connect(
        f"{server.ws}/api/tts_streaming?format=PcmMessagePack&voice=tara",
        additional_headers={"kyutai-api-key": KEY},
    ) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}


async def test_unmute_socket_accepts_the_bearer_header(server: ServerThread) -> None:
    async with websockets.connect(
        f"{server.ws}/api/tts_streaming?voice=tara", additional_headers=BEARER
    ) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}


async def test_pcm_socket_with_a_wrong_key_is_refused_at_the_handshake(
    server: ServerThread,
) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(
            f"{server.ws}/v1/audio/speech/stream/ws?voice=tara",
            additional_headers={"Authorization": "Bearer nope"},
        ):
            pass
    assert caught.value.response.status_code == 401


async def test_kyutai_header_is_not_a_key_for_other_endpoints(server: ServerThread) -> None:
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            f"{server.ws}/v1/audio/speech/stream/ws", additional_headers={"kyutai-api-key": KEY}
        ):
            pass


def test_without_a_configured_key_everything_is_open() -> None:
    checker = ApiKeyChecker(None)
    assert checker.allowed({}) and not checker.enabled


def test_key_check_uses_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert ApiKeyChecker(KEY).allowed({"authorization": f"Bearer {KEY}"})
    assert calls == [(KEY.encode(), KEY.encode())]


def test_service_without_a_key_warns_that_it_is_open(caplog: pytest.LogCaptureFixture) -> None:
    from orpheus_service.api.app import create_app
    from orpheus_service.settings import OrpheusSettings

    with caplog.at_level("WARNING", logger="orpheus_service.api.app"):
        create_app(OrpheusSettings(api_key=None))
    assert any("ORPHEUS_API_KEY is not set" in r.message for r in caplog.records)
