"""WebSocket handshakes refused before any route runs: an unknown path is a 404 the
client reports as a wrong URL (never as a wrong key), and with no key set a page from a
foreign origin is refused while clients that send no Origin are not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets

from backends.orpheus.client import OrpheusAuthError, OrpheusTextToSpeech
from backends.orpheus.settings import OrpheusClientSettings
from tests.support.service_support import FakeEngine, ServerThread, start_fake_service
from unmute.tts.base import BackendError

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
KEY = "sk-guard"
PAGE = "https://page.example"


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def start(**settings: Any) -> ServerThread:
        server = start_fake_service(FakeEngine(), **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def handshake_status(url: str, **options: Any) -> int:
    """The HTTP status the service answers a WebSocket handshake with (101: accepted)."""
    try:
        async with websockets.connect(url, **options):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def client(url: str, **settings: Any) -> OrpheusTextToSpeech:
    values: dict[str, Any] = {"fastapi_url": url, "startup_budget_s": 2.0}
    return OrpheusTextToSpeech(settings=OrpheusClientSettings(**values | settings))


@pytest.mark.parametrize("key", [None, KEY])
async def test_an_unknown_websocket_path_is_a_404_key_or_not(
    serve: Callable[..., ServerThread], key: str | None
) -> None:
    server = serve(api_key=key)
    assert await handshake_status(server.ws + "/v2/api/tts_streaming") == 404


@pytest.mark.parametrize("key", [None, KEY])
async def test_the_client_reports_an_unknown_path_as_a_wrong_url_not_a_wrong_key(
    serve: Callable[..., ServerThread], key: str | None
) -> None:
    server = serve(api_key=key)
    tts = client(server.http + "/v2", api_key=key)
    with pytest.raises(BackendError) as caught:
        await tts.start_up()
    assert not isinstance(caught.value, OrpheusAuthError)
    message = str(caught.value)
    assert "HTTP 404" in message and "ORPHEUS_FASTAPI_URL" in message
    assert "credentials" not in message


async def test_the_client_reports_a_refused_key_as_a_wrong_key(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve(api_key=KEY)
    with pytest.raises(OrpheusAuthError, match=r"rejected the credentials.*ORPHEUS_API_KEY"):
        await client(server.http, api_key="sk-wrong").start_up()


async def test_without_a_key_a_page_from_a_foreign_origin_is_refused(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve()
    assert await handshake_status(server.ws + UNMUTE, origin=PAGE) == 403


async def test_without_a_key_the_services_own_page_and_clients_without_origin_are_served(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve()
    assert await handshake_status(server.ws + UNMUTE, origin=server.http) == 101
    assert await handshake_status(server.ws + UNMUTE) == 101


async def test_without_a_key_a_page_from_a_listed_origin_is_served(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve(cors_origins=f"https://other.example, {PAGE}")
    assert await handshake_status(server.ws + UNMUTE, origin=PAGE) == 101


async def test_with_a_key_a_foreign_page_holding_the_key_is_served(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve(api_key=KEY)
    headers = {"Authorization": f"Bearer {KEY}"}
    status = await handshake_status(server.ws + UNMUTE, origin=PAGE, additional_headers=headers)
    assert status == 101
