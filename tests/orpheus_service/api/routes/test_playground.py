"""The playground's files, the subprotocol that carries a browser's key, and CORS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from orpheus_service.api.middleware.browser_auth import (
    SUBPROTOCOL,
    key_from_subprotocols,
    key_subprotocol,
)
from orpheus_service.api.routes.playground import PLAYGROUND_PATHS
from tests.support.service_support import FakeEngine, ServerThread, start_fake_service, unpack

KEY = "sk-pl/ay+ground=ü"
ORIGIN = "https://app.example.test"


def offer(*extra: str) -> list[Subprotocol]:
    """The subprotocols a browser client offers: `orpheus-tts`, then `extra`."""
    return [Subprotocol(SUBPROTOCOL), *(Subprotocol(name) for name in extra)]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(), api_key=KEY, cors_origins=ORIGIN)
    yield srv
    srv.stop()


def test_the_page_is_served_at_the_root_without_a_key(server: ServerThread) -> None:
    page = httpx.get(f"{server.http}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<textarea" in page.text and 'id="speak"' in page.text


def test_every_file_the_page_loads_is_served_from_the_package(server: ServerThread) -> None:
    page = httpx.get(f"{server.http}/").text
    script = httpx.get(f"{server.http}/playground/app.js").text
    local = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', page) + [
        "playground/" + name for name in re.findall(r'from "\./([^"]+)"', script)
    ]
    assert local, "the page loads scripts and styles"
    for path in local:
        assert not path.startswith(("http:", "https:", "//")), f"{path} is fetched from elsewhere"
        assert "/" + path in PLAYGROUND_PATHS
        assert httpx.get(f"{server.http}/{path}").status_code == 200


def test_the_page_forbids_loading_anything_from_elsewhere(server: ServerThread) -> None:
    policy = httpx.get(f"{server.http}/").headers["content-security-policy"]
    assert "default-src 'self'" in policy


def test_an_unknown_playground_file_is_not_served(server: ServerThread) -> None:
    assert httpx.get(f"{server.http}/playground/secrets.txt").status_code in (401, 404)


def test_the_key_subprotocol_round_trips_any_key() -> None:
    carried = key_subprotocol(KEY)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", carried), "a valid subprotocol token"
    assert key_from_subprotocols([SUBPROTOCOL, carried]) == KEY


async def test_a_browser_style_websocket_authenticates_with_the_subprotocol(
    server: ServerThread,
) -> None:
    url = f"{server.ws}/api/tts_streaming?voice=tara"
    async with websockets.connect(url, subprotocols=offer(key_subprotocol(KEY))) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        assert unpack(await ws.recv())["type"] == "Ready"


async def test_a_wrong_key_in_the_subprotocol_is_refused(server: ServerThread) -> None:
    url = f"{server.ws}/api/tts_streaming?voice=tara"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, subprotocols=offer(key_subprotocol("nope"))):
            pass
    assert refused.value.response.status_code == 401


async def test_the_subprotocol_is_accepted_on_a_service_without_a_key() -> None:
    srv = start_fake_service(FakeEngine())
    try:
        url = f"{srv.ws}/api/tts_streaming?voice=tara"
        async with websockets.connect(url, subprotocols=offer()) as ws:
            assert ws.subprotocol == SUBPROTOCOL
    finally:
        srv.stop()


def test_a_preflight_from_a_configured_origin_is_allowed(server: ServerThread) -> None:
    r = httpx.options(
        f"{server.http}/v1/audio/speech",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in r.headers["access-control-allow-headers"].lower()


def test_a_request_from_another_origin_gets_no_cors_header(server: ServerThread) -> None:
    r = httpx.get(f"{server.http}/health", headers={"Origin": "https://elsewhere.test"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_without_cors_origins_no_preflight_is_answered() -> None:
    srv = start_fake_service(FakeEngine())
    try:
        r = httpx.options(
            f"{srv.http}/v1/audio/speech",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in r.headers
    finally:
        srv.stop()


async def test_speed_shortens_the_audio_and_the_word_times(server: ServerThread) -> None:
    async def speak(speed: str) -> tuple[int, list[float]]:
        url = f"{server.ws}/api/tts_streaming?voice=tara&speed={speed}"
        samples, starts = 0, []
        async with websockets.connect(url, subprotocols=offer(key_subprotocol(KEY))) as ws:
            await ws.send(json.dumps({"type": "Text", "text": "one two three four"}))
            await ws.send(json.dumps({"type": "Eos"}))
            async for frame in ws:
                message = unpack(frame)
                if message["type"] == "Audio":
                    samples += len(message["pcm"])
                elif message["type"] == "Text":
                    starts.append(message["start_s"])
        return samples, starts

    normal, normal_starts = await speak("1")
    fast, fast_starts = await speak("2")
    assert fast == pytest.approx(normal / 2, rel=0.05)
    assert fast_starts == pytest.approx([start / 2 for start in normal_starts])


async def test_a_speed_out_of_bounds_is_refused(server: ServerThread) -> None:
    url = f"{server.ws}/api/tts_streaming?voice=tara&speed=9"
    async with websockets.connect(url, subprotocols=offer(key_subprotocol(KEY))) as ws:
        message = unpack(await ws.recv())
    assert message["type"] == "Error"
    assert "speed must be within" in message["message"]
