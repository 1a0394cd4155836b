"""ORPHEUS_MAX_TEXT_MESSAGES_PER_S: a session's messages are read at a bounded pace."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import websockets

from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service
from tests.support.socket_checks import read_until_closed

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
RATE = 20.0


@pytest.fixture
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(), max_text_messages_per_s=RATE)
    yield srv
    srv.stop()


async def speak_words(server: ServerThread, count: int) -> float:
    """Send `count` one-word Text messages at once, then Eos; seconds until the close."""
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        began = time.perf_counter()
        for index in range(count):
            await ws.send(pack({"type": "Text", "text": f" word{index}"}))
        await ws.send(pack({"type": "Eos"}))
        await read_until_closed(ws, 30.0)
        assert ws.close_code == 1000
        return time.perf_counter() - began


async def test_a_burst_within_the_rate_is_read_at_once(server: ServerThread) -> None:
    assert await speak_words(server, int(RATE / 2)) < 1.0


async def test_a_flood_of_messages_is_read_no_faster_than_the_rate(server: ServerThread) -> None:
    count = int(RATE * 3)
    took = await speak_words(server, count)
    # The first RATE messages come in a burst; the rest, and Eos, at RATE a second.
    assert took >= 0.8 * (count + 1 - RATE) / RATE


async def test_a_paced_client_is_not_taken_for_idle() -> None:
    srv = start_fake_service(FakeEngine(), max_text_messages_per_s=RATE, session_idle_timeout_s=0.5)
    try:
        assert await speak_words(srv, int(RATE * 3)) >= 1.5  # waits of ours, past the limit
    finally:
        srv.stop()
