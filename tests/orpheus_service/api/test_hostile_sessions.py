"""Hostile sessions: every socket has an idle limit, every path gives its channel back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import websockets

from orpheus_service import serving
from orpheus_service.api.transport import websocket
from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service, unpack
from tests.support.socket_checks import active_sessions, read_until_closed

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
PCM_SOCKET = "/v1/audio/speech/stream/ws?voice=tara"
CLOSE_POLICY = 1008
IDLE_S = 0.3


@pytest.fixture
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(
        FakeEngine(chunk_delay_s=0.01), max_sessions=2, session_idle_timeout_s=IDLE_S
    )
    yield srv
    srv.stop()


CLOSE_WITHIN_S = 5.0
"""How long a test waits for the service to close a socket."""


async def settled(server: ServerThread, timeout_s: float = 3.0) -> int:
    """Active sessions once they reach 0, or as they are after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    active = await active_sessions(server)
    while active and loop.time() < deadline:
        await asyncio.sleep(0.02)
        active = await active_sessions(server)
    return active


async def test_a_pcm_socket_that_sends_nothing_is_closed_at_the_idle_limit(
    server: ServerThread,
) -> None:
    async with websockets.connect(server.ws + PCM_SOCKET) as ws:
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_POLICY
    assert json.loads(frames[-1]) == {"type": "error", "error": "idle timeout"}
    assert await settled(server) == 0


async def test_idle_sockets_do_not_keep_the_service_full(server: ServerThread) -> None:
    idle = [await websockets.connect(server.ws + PCM_SOCKET) for _ in range(2)]
    await asyncio.gather(*(read_until_closed(ws, CLOSE_WITHIN_S) for ws in idle))
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}


async def _unmute_idle(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await read_until_closed(ws, CLOSE_WITHIN_S)


async def _unmute_gone_mid_stream(server: ServerThread) -> None:
    ws = await websockets.connect(server.ws + UNMUTE)
    await ws.recv()
    await ws.send(pack({"type": "Text", "text": "one two three four five"}))
    await ws.recv()
    ws.transport.abort()


async def _unmute_bad_frame(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()
        await ws.send(b"\xc1")
        await read_until_closed(ws, CLOSE_WITHIN_S)


async def _pcm_gone_before_text(server: ServerThread) -> None:
    ws = await websockets.connect(server.ws + PCM_SOCKET)
    ws.transport.abort()


async def _pcm_gone_mid_stream(server: ServerThread) -> None:
    ws = await websockets.connect(server.ws + PCM_SOCKET)
    await ws.send("one two three four five six seven")
    await ws.recv()
    ws.transport.abort()


async def _pcm_idle(server: ServerThread) -> None:
    async with websockets.connect(server.ws + PCM_SOCKET) as ws:
        await read_until_closed(ws, CLOSE_WITHIN_S)


async def _pcm_bad_first_frame(server: ServerThread) -> None:
    async with websockets.connect(server.ws + PCM_SOCKET) as ws:
        await ws.send(b"binary")
        await read_until_closed(ws, CLOSE_WITHIN_S)


async def _http_gone_mid_stream(server: ServerThread) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST", server.http + "/v1/audio/speech", json={"input": "one two three four five"}
        ) as reply,
    ):
        await anext(reply.aiter_bytes())


PATHS: dict[str, Callable[[ServerThread], Awaitable[None]]] = {
    "unmute idle": _unmute_idle,
    "unmute client gone mid-stream": _unmute_gone_mid_stream,
    "unmute malformed frame": _unmute_bad_frame,
    "pcm socket gone before its text": _pcm_gone_before_text,
    "pcm socket gone mid-stream": _pcm_gone_mid_stream,
    "pcm socket idle": _pcm_idle,
    "pcm socket binary first frame": _pcm_bad_first_frame,
    "http client gone mid-stream": _http_gone_mid_stream,
}


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_every_path_gives_the_channel_back(server: ServerThread, path: str) -> None:
    await asyncio.wait_for(PATHS[path](server), 5)
    assert await settled(server) == 0


@pytest.fixture
def flood() -> Iterator[ServerThread]:
    """A service whose engine speaks as fast as it can: audio piles up unread."""
    srv = start_fake_service(
        FakeEngine(chunks_per_word=20), max_sessions=2, session_idle_timeout_s=IDLE_S
    )
    yield srv
    srv.stop()


@asynccontextmanager
async def reading_nothing(server: ServerThread) -> AsyncIterator[None]:
    """A socket that sends a long text and Eos, then reads none of its audio."""
    ws = await websockets.connect(server.ws + UNMUTE, max_queue=1)
    try:
        await ws.recv()  # Ready
        await ws.send(pack({"type": "Text", "text": " word" * 5000}))
        await ws.send(pack({"type": "Eos"}))
        yield
    finally:
        ws.transport.abort()


async def test_a_socket_that_leaves_the_audio_unread_is_dropped_at_the_idle_limit(
    flood: ServerThread,
) -> None:
    async with reading_nothing(flood):
        assert await settled(flood, timeout_s=10) == 0


async def test_the_connection_of_a_socket_that_reads_nothing_is_cut_after_its_session(
    flood: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "CLOSE_LINGER_S", 0.2)
    monkeypatch.setattr(websocket, "CLOSE_WAIT_S", 0.2)  # the error and close frames wait
    async with reading_nothing(flood):
        assert await settled(flood, timeout_s=10) == 0
        connections = flood.server.server_state.connections
        for _ in range(250):
            if not connections:
                break
            await asyncio.sleep(0.02)
        assert not connections  # the server's side is gone, its buffered audio with it


async def test_a_socket_that_reads_nothing_has_seconds_of_audio_generated_not_minutes(
    flood: ServerThread,
) -> None:
    async with reading_nothing(flood):
        assert await settled(flood, timeout_s=10) == 0
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(flood.http + "/metrics")).text
    (line,) = [row for row in metrics.splitlines() if row.startswith("orpheus_audio_seconds_total")]
    # What the kernels hold (SEND_BUFFER_BYTES doubled, the client's receive buffer)
    # is ~5 s of float32 audio; left to autotuning, the send buffer alone held ~40 s.
    assert float(line.split()[-1]) < 15.0


async def test_an_http_client_that_leaves_the_audio_unread_is_dropped_at_the_idle_limit(
    flood: ServerThread,
) -> None:
    text = " ".join(["word"] * 5000)
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST", flood.http + "/v1/audio/speech/stream", json={"input": text}
        ) as reply,
    ):
        chunks = reply.aiter_raw()  # kept: dropping the iterator would close the stream
        await anext(chunks)
        assert await settled(flood, timeout_s=10) == 0  # while the client reads nothing
        del chunks
