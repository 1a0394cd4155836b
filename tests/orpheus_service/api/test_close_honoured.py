"""A client's close is honoured at once, whatever it sent before that is still unread.

A client sends a long text as 300 one-word messages at once (as an LLM's words come),
waits for the first audio and closes: the service must not read the queued words at
ORPHEUS_MAX_TEXT_MESSAGES_PER_S before it sees the close. Control frames are never
paced: a ping behind the words is answered at once too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.llama import wait_until
from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service, unpack
from tests.support.socket_checks import active_sessions

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
WORDS = 300
HONOURED_WITHIN_S = 0.2


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunk_delay_s=0.02)


@pytest.fixture
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine)  # the default pace: 100 messages a second
    yield srv
    srv.stop()


async def send_words_until_first_audio(ws: ClientConnection) -> None:
    """Send WORDS one-word Text messages at once (no Eos), then wait for the first audio."""
    assert unpack(await ws.recv())["type"] == "Ready"
    for index in range(WORDS):
        await ws.send(pack({"type": "Text", "text": f" word{index}"}))
    while unpack(await ws.recv())["type"] != "Audio":
        pass


async def session_freed_within(server: ServerThread, timeout_s: float) -> float:
    """Seconds until the service runs no session; TimeoutError past `timeout_s`."""

    async def freed() -> bool:
        return await active_sessions(server) == 0

    return await wait_until(freed, timeout_s, interval_s=0.005)


@pytest.mark.parametrize("max_queue", [None, 16], ids=["reads-everything", "default-queue"])
async def test_a_close_behind_300_queued_words_is_answered_at_once(
    server: ServerThread, max_queue: int | None
) -> None:
    async with websockets.connect(server.ws + UNMUTE, max_queue=max_queue) as ws:
        await send_words_until_first_audio(ws)
        began = time.perf_counter()
        await ws.close()
        took = time.perf_counter() - began
    assert ws.close_code == 1000  # the service answered the close handshake
    assert took < HONOURED_WITHIN_S


async def test_a_close_behind_300_queued_words_frees_the_session_at_once(
    server: ServerThread, engine: FakeEngine
) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await send_words_until_first_audio(ws)
        closing = asyncio.create_task(ws.close())
        await session_freed_within(server, HONOURED_WITHIN_S)
        await closing
    assert engine.cancelled == 1  # the generation was stopped, not left to finish


async def test_a_dropped_connection_behind_300_queued_words_frees_the_session_at_once(
    server: ServerThread, engine: FakeEngine
) -> None:
    ws = await websockets.connect(server.ws + UNMUTE)
    await send_words_until_first_audio(ws)
    ws.transport.abort()
    await session_freed_within(server, HONOURED_WITHIN_S)
    assert engine.cancelled == 1


async def test_a_ping_behind_300_queued_words_is_answered_at_once(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE, max_queue=None) as ws:
        await send_words_until_first_audio(ws)
        began = time.perf_counter()
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)
        assert time.perf_counter() - began < HONOURED_WITHIN_S
