"""Live: both WebSockets of the deployed service, and interruption.

- `/api/tts_streaming`: unmute's msgpack protocol (Ready, Text/Audio, Eos, close 1000);
- `/v1/audio/speech/stream/ws`: one text frame in, 16-bit PCM frames out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK

from tests.live.conftest import LiveService

pytestmark = pytest.mark.live

SAMPLE_RATE = 24_000
TEXT = "Hi there. This is a live test of the streaming socket, one word at a time."
LONG_TEXT = " ".join(
    ["This is a long answer that keeps going so that it can be interrupted midway."] * 6
)
packb = cast(Callable[..., bytes], msgpack.packb)  # pyright: ignore[reportUnknownMemberType]
unpackb = cast(Callable[..., Any], msgpack.unpackb)  # pyright: ignore[reportUnknownMemberType]


def streaming_url(live: LiveService, voice: str = "tara") -> str:
    return f"{live.ws_base}/api/tts_streaming?format=PcmMessagePack&voice={voice}"


async def open_unmute_session(live: LiveService) -> ClientConnection:
    ws = await connect(
        streaming_url(live),
        additional_headers=live.headers(),
        max_size=64 * 1024 * 1024,
        open_timeout=120,
    )
    ready = unpackb(await ws.recv(), raw=False)
    assert ready == {"type": "Ready"}
    return ws


async def test_unmute_socket_speaks_words_with_timings_and_closes_normally(
    warm: LiveService,
) -> None:
    ws = await open_unmute_session(warm)
    for word in TEXT.split():
        await ws.send(packb({"type": "Text", "text": word}))
    await ws.send(packb({"type": "Eos"}))
    audio_s = 0.0
    words: list[dict[str, Any]] = []
    async for frame in ws:
        assert isinstance(frame, bytes)
        message = unpackb(frame, raw=False)
        assert message["type"] != "Error", message
        if message["type"] == "Audio":
            audio_s += len(message["pcm"]) / SAMPLE_RATE
        elif message["type"] == "Text":
            words.append(message)
    assert ws.close_code == 1000
    assert 2.0 < audio_s < 30.0
    assert len(words) >= len(TEXT.split()) // 2
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts)
    assert all(w["start_s"] <= w["stop_s"] <= audio_s + 0.5 for w in words)


async def test_seed_socket_streams_pcm_for_one_text_frame(warm: LiveService) -> None:
    url = f"{warm.ws_base}/v1/audio/speech/stream/ws?voice=tara"
    pcm = bytearray()
    frames = 0
    async with connect(url, additional_headers=warm.headers(), open_timeout=120) as ws:
        await ws.send(TEXT)
        try:
            async for frame in ws:
                assert isinstance(frame, bytes), frame
                pcm += frame
                frames += 1
        except ConnectionClosedOK:
            pass
        assert ws.close_code == 1000
    assert frames >= 2
    assert len(pcm) % 2 == 0
    assert 2.0 < len(pcm) / 2 / SAMPLE_RATE < 30.0


async def test_closing_the_socket_mid_speech_stops_it_and_the_service_keeps_serving(
    warm: LiveService,
) -> None:
    ws = await open_unmute_session(warm)
    for word in LONG_TEXT.split():
        await ws.send(packb({"type": "Text", "text": word}))
    await ws.send(packb({"type": "Eos"}))
    async with asyncio.timeout(60):
        while True:
            message = unpackb(await ws.recv(), raw=False)
            if message["type"] == "Audio":
                break
    await ws.close()
    # The next session starts and speaks at once: nothing was left holding a channel.
    started = time.perf_counter()
    again = await open_unmute_session(warm)
    try:
        await again.send(packb({"type": "Text", "text": "Still here."}))
        await again.send(packb({"type": "Eos"}))
        got_audio = False
        async for frame in again:
            message = unpackb(frame, raw=False)
            assert message["type"] != "Error", message
            got_audio = got_audio or message["type"] == "Audio"
        assert got_audio
    finally:
        await again.close()
    assert time.perf_counter() - started < 30.0
