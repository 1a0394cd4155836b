"""Hostile text on every endpoint: bounded, clear errors, and the event loop stays free."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from orpheus_service.api.app import ServiceDeps, create_app
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.tokens import AUDIO_TOKEN_BASE, END_OF_SPEECH
from tests.support.orpheus_fixtures import OrpheusService
from tests.support.service_support import (
    FakeEngine,
    ServerThread,
    llama_ok,
    pack,
    service_settings,
    start_fake_service,
    unpack,
)
from tests.support.socket_checks import active_sessions, read_until_closed

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
PCM_SOCKET = "/v1/audio/speech/stream/ws?voice=tara"
CLOSE_POLICY = 1008
CLOSE_INVALID = 1007
CLOSE_TOO_BIG = 1009
SENTENCES = "This is one more sentence of a very long story. "


class OneFrameSource:
    """Token source: every segment speaks one frame of audio tokens, then ends."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(
        self, prompt: list[PromptPart], /, *, sampling: object = None
    ) -> AsyncIterator[int]:
        return self._stream(prompt)

    async def _stream(self, prompt: list[PromptPart]) -> AsyncIterator[int]:
        self.prompts.append(str(prompt[2]).split(": ", 1)[1])
        for slot in range(7):
            yield AUDIO_TOKEN_BASE + slot * 4096 + 1
        yield END_OF_SPEECH


class SilenceDecoder:
    """FrameDecoder: 2048 samples of silence per frame."""

    async def decode(self, frames: Sequence[Any]) -> npt.NDArray[np.float32] | None:
        await asyncio.sleep(0)
        return np.zeros(2048 * len(frames), dtype=np.float32)

    async def flush(self) -> npt.NDArray[np.float32] | None:
        return None


@pytest.fixture
def segmenting() -> Iterator[tuple[ServerThread, OneFrameSource]]:
    """The app on the real OrpheusEngine (real segmenter) with a one-frame token source."""
    source = OneFrameSource()
    engine = OrpheusEngine(source, SilenceDecoder, idle_flush_s=None)
    app = create_app(
        service_settings(max_sessions=4), ServiceDeps(engine=engine, check_llama=llama_ok)
    )
    server = ServerThread(app).start()
    yield server, source
    server.stop()


@pytest.fixture
def small_limit() -> Iterator[ServerThread]:
    server = start_fake_service(FakeEngine(), max_input_chars=1000, max_sessions=2)
    yield server
    server.stop()


async def worst_stall(server: ServerThread, stop: asyncio.Event) -> float:
    """Run a ticker on the server's loop until `stop`: the most CPU time (s) the loop's
    thread spent between two of its 2 ms ticks, i.e. the longest the loop was kept busy
    (time the machine gave to other processes does not count)."""
    finished = False

    async def ticker() -> float:
        worst = 0.0
        while not finished:
            before = time.thread_time()
            await asyncio.sleep(0.002)
            worst = max(worst, time.thread_time() - before)
        return worst

    future = asyncio.run_coroutine_threadsafe(ticker(), server.loop)
    await stop.wait()
    finished = True
    return await asyncio.wrap_future(future)


CLOSE_WITHIN_S = 10.0
"""How long a test waits for the service to close a socket."""


async def test_a_100k_character_request_does_not_stall_the_event_loop(
    segmenting: tuple[ServerThread, OneFrameSource],
) -> None:
    server, _ = segmenting
    stop = asyncio.Event()
    stall = asyncio.create_task(worst_stall(server, stop))
    text = (SENTENCES * 3000)[:100_000]
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream(
            "POST", server.http + "/v1/audio/speech/stream", json={"input": text}
        ) as reply,
    ):
        assert reply.status_code == 200
        received = 0
        async for chunk in reply.aiter_bytes():
            received += len(chunk)
            if received > 200 * 4096:
                break
    stop.set()
    assert await stall < 0.2


async def test_a_long_word_is_spoken_in_segments_within_the_bound(
    segmenting: tuple[ServerThread, OneFrameSource],
) -> None:
    server, source = segmenting
    async with httpx.AsyncClient(timeout=60) as client:
        reply = await client.post(
            server.http + "/v1/audio/speech/stream", json={"input": "a" * 20_000}
        )
    assert reply.status_code == 200
    assert "".join(source.prompts) == "a" * 20_000
    assert max(len(prompt) for prompt in source.prompts) <= 150


async def test_a_long_word_is_spoken_by_llama_server(orpheus_service: OrpheusService) -> None:
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream(
            "POST", orpheus_service.url + "/v1/audio/speech/stream", json={"input": "a" * 20_000}
        ) as reply,
    ):
        assert reply.status_code == 200
        first = await anext(reply.aiter_bytes())
    assert len(first) > 0


async def test_one_text_message_over_the_limit_is_refused(small_limit: ServerThread) -> None:
    async with websockets.connect(small_limit.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        await ws.send(pack({"type": "Text", "text": "word " * 1000}))
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_TOO_BIG
    error = unpack(frames[-1])
    assert error["type"] == "Error"
    assert "1000" in error["message"] and "ORPHEUS_MAX_INPUT_CHARS" in error["message"]
    assert await active_sessions(small_limit) == 0


async def test_a_json_message_of_escaped_emoji_within_the_limit_is_spoken(
    small_limit: ServerThread,
) -> None:
    text = "\\ud83d\\ude00" * 1000  # 1000 characters, 12,000 in the frame
    async with websockets.connect(small_limit.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        await ws.send('{"type": "Text", "text": "' + text + '"}')
        await ws.send(pack({"type": "Eos"}))
        await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == 1000


async def test_streamed_text_over_the_session_limit_is_refused(small_limit: ServerThread) -> None:
    async with websockets.connect(small_limit.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        with contextlib.suppress(ConnectionClosed):
            for _ in range(100):
                await ws.send(pack({"type": "Text", "text": " word" * 10}))
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_TOO_BIG
    assert "ORPHEUS_MAX_INPUT_CHARS" in unpack(frames[-1])["message"]
    assert await active_sessions(small_limit) == 0


async def test_a_text_frame_over_the_limit_on_the_pcm_socket_is_refused(
    small_limit: ServerThread,
) -> None:
    async with websockets.connect(small_limit.ws + PCM_SOCKET) as ws:
        await ws.send("word " * 1000)
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_TOO_BIG
    error = json.loads(frames[-1])
    assert error["type"] == "error" and "ORPHEUS_MAX_INPUT_CHARS" in error["error"]


async def test_a_lone_surrogate_in_http_input_is_a_400_naming_it(small_limit: ServerThread) -> None:
    async with httpx.AsyncClient() as client:
        reply = await client.post(
            small_limit.http + "/v1/audio/speech",
            content=b'{"input": "hello \\ud800 world"}',
            headers={"content-type": "application/json"},
        )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_text"
    assert "surrogate" in error["message"] and "6" in error["message"]


async def test_a_lone_surrogate_in_a_json_text_message_is_an_error_naming_it(
    small_limit: ServerThread,
) -> None:
    async with websockets.connect(small_limit.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        await ws.send('{"type": "Text", "text": "hi \\udfff"}')
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_INVALID
    assert "surrogate" in unpack(frames[-1])["message"]


async def test_a_lone_surrogate_on_the_pcm_socket_is_an_error_naming_it(
    small_limit: ServerThread,
) -> None:
    async with websockets.connect(small_limit.ws + PCM_SOCKET) as ws:
        await ws.send('{"input": "\\ud800"}')
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_INVALID
    assert "surrogate" in json.loads(frames[-1])["error"]


async def test_a_lone_surrogate_is_a_400_before_llama_server_sees_it(
    orpheus_service: OrpheusService,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.post(
            orpheus_service.url + "/v1/audio/speech",
            content=b'{"input": "\\ud800"}',
            headers={"content-type": "application/json"},
        )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_text"


async def test_a_burst_of_one_word_messages_does_not_stall_the_event_loop(
    segmenting: tuple[ServerThread, OneFrameSource],
) -> None:
    server, _ = segmenting
    frame = pack({"type": "Text", "text": " word"})
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        stop = asyncio.Event()
        stall = asyncio.create_task(worst_stall(server, stop))
        for _ in range(19_000):
            await ws.send(frame)
        await ws.send(pack({"type": "Eos"}))
        await asyncio.sleep(1.0)
        stop.set()
    assert await stall < 0.1


@pytest.mark.parametrize("path", [UNMUTE, PCM_SOCKET])
async def test_json_nested_5000_deep_is_an_error_naming_it(
    segmenting: tuple[ServerThread, OneFrameSource], path: str
) -> None:
    async with websockets.connect(segmenting[0].ws + path) as ws:
        if path == UNMUTE:
            await ws.recv()  # Ready
        await ws.send('{"a": ' * 5000 + "1" + "}" * 5000)
        frames = await read_until_closed(ws, CLOSE_WITHIN_S)
    assert ws.close_code == CLOSE_INVALID
    assert "nested" in str(frames[-1])
