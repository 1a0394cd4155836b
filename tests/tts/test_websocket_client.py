"""The one client of unmute's WebSocket protocol (kyutai and orpheus configure it).

Each test runs a small local server of the protocol on 127.0.0.1 that misbehaves in
one way: silent once the text has ended, silent while text is still coming, an
Error before Ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from unmute.tts.base import AtCapacityError, BackendError, RetryPolicy
from unmute.tts.conformance import speak
from unmute.tts.protocol import (
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
    WireError,
    decode_frame,
    encode_frame,
)
from unmute.tts.websocket_client import ServiceConfig, ServiceError, UnmuteProtocolTextToSpeech

Handler = Callable[[ServerConnection], Awaitable[None]]
CHUNK = 1920


class Client(UnmuteProtocolTextToSpeech):
    backend_name = "test"


def client(url: str, **overrides: Any) -> Client:
    config = ServiceConfig(
        service="the test server",
        url=url + "/api/tts_streaming?format=PcmMessagePack",
        shown_url=url,
        url_setting="TEST_URL",
        stall_timeout_s=0.3,
        stall_timeout_setting="TEST_STALL_TIMEOUT_S",
    )
    return Client(None, config=replace(config, **overrides), retry=RetryPolicy(budget_s=0.5))


@contextlib.asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    async def run(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await handler(ws)

    async with serve(run, "127.0.0.1", 0) as running:
        port: int = running.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def answer_words(ws: ServerConnection, *, silent_after_eos: bool = False) -> None:
    """Ready, the empty Text moshi-server always sends, then a word and audio per Text."""
    await ws.send(encode_frame({"type": "Ready"}))
    await ws.send(encode_frame({"type": "Text", "text": "", "start_s": 0.0, "stop_s": 0.0}))
    t = 0.0
    async for raw in ws:
        message = decode_frame(raw)
        if message["type"] == "Eos":
            break
        await ws.send(encode_frame(TTSTextMessage(text=message["text"], start_s=t, stop_s=t)))
        await ws.send(encode_frame({"type": "Audio", "pcm": [0.1] * CHUNK}))
        t += CHUNK / 24000
    if silent_after_eos:
        await ws.wait_closed()  # owes nothing more, says nothing, never closes


async def test_a_server_silent_after_the_end_of_text_ends_the_stream_with_an_error() -> None:
    async def silent(ws: ServerConnection) -> None:
        await answer_words(ws, silent_after_eos=True)

    async with server(silent) as url:
        started = time.monotonic()
        messages = await asyncio.wait_for(speak(client(url), "hello there"), 5)
        elapsed = time.monotonic() - started
    assert sum(isinstance(m, TTSAudioMessage) for m in messages) == 2
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "sent nothing for 0.3 s" in messages[-1].message
    assert "TEST_STALL_TIMEOUT_S" in messages[-1].message
    assert elapsed < 2


async def test_silence_while_text_is_still_coming_is_not_a_stall() -> None:
    async with server(answer_words) as url:
        tts = client(url)
        await tts.start_up()
        await tts.send("hello")
        await asyncio.sleep(0.6)  # the LLM thinks for twice the stall timeout
        await tts.send("there")
        await tts.send(TTSClientEosMessage())
        messages = await asyncio.wait_for(_collect(tts), 5)
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["hello", "there"]
    assert not any(isinstance(m, TTSErrorMessage) for m in messages)


async def _collect(tts: Client) -> list[TTSAudioMessage | TTSTextMessage | TTSErrorMessage]:
    return [m async for m in tts]


async def test_the_empty_text_moshi_server_always_sends_is_dropped() -> None:
    async with server(answer_words) as url:
        messages = await speak(client(url), "hello")
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["hello"]


async def error_before_ready(ws: ServerConnection) -> None:
    await ws.send(encode_frame({"type": "Error", "message": "something else"}))
    await ws.close()


async def test_an_error_before_ready_fails_at_once_unless_it_means_capacity() -> None:
    async with server(error_before_ready) as url:
        tts = client(url)
        with pytest.raises(ServiceError, match="refused the session: something else"):
            await tts.start_up()
    assert tts.connections == 1


async def test_a_server_sending_errors_before_ready_only_at_capacity_is_retried() -> None:
    async with server(error_before_ready) as url:
        tts = client(url, any_error_before_ready_is_capacity=True)
        with pytest.raises(BackendError, match="not ready within"):
            await tts.start_up()
    assert tts.connections >= 2
    assert isinstance(tts.startup_errors[0], AtCapacityError)


async def test_frames_sent_before_ready_go_first() -> None:
    received: list[dict[str, object]] = []

    async def record(ws: ServerConnection) -> None:
        received.append(decode_frame(await ws.recv()))
        await answer_words(ws)

    voice = encode_frame({"type": "Voice", "embeddings": [1.0], "shape": [1]})
    async with server(record) as url:
        await speak(client(url, first_frames=lambda: [voice]), "hello")
    assert received == [{"type": "Voice", "embeddings": [1.0], "shape": [1]}]


def test_wire_frames_round_trip_server_and_client_messages() -> None:
    audio = TTSAudioMessage(pcm=np.array([0.5, -0.5], dtype=np.float32))
    assert decode_frame(encode_frame(audio)) == {"type": "Audio", "pcm": [0.5, -0.5]}
    assert decode_frame(encode_frame(TTSClientEosMessage())) == {"type": "Eos"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("text", "text frame"), (b"\xc1", "undecodable"), (b"\x91\x01", "list, expected a map")],
)
def test_bad_frames_are_clear_errors(raw: str | bytes, problem: str) -> None:
    with pytest.raises(WireError, match=problem):
        decode_frame(raw)
