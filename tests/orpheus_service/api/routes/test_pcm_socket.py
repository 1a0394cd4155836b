"""The WebSocket protocols on a fake engine: unmute's msgpack socket and the PCM socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service, unpack
from tests.support.socket_checks import read_messages
from tests.support.waiting import wait_until

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
PCM_SOCKET = "/v1/audio/speech/stream/ws?voice=tara"


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunks_per_word=2)


@pytest.fixture
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, max_sessions=2)
    yield srv
    srv.stop()


async def speak(server: ServerThread, words: list[str]) -> tuple[list[dict[str, Any]], int | None]:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}
        for word in words:
            await ws.send(pack({"type": "Text", "text": word}))
        await ws.send(pack({"type": "Eos"}))
        messages = await read_messages(ws)
        return messages, ws.close_code


# -- unmute's msgpack protocol ---------------------------------------------------------


async def test_ready_comes_before_anything_else(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await asyncio.wait_for(ws.recv(), 2)) == {"type": "Ready"}


async def test_words_come_back_as_text_messages_with_times(server: ServerThread) -> None:
    messages, _ = await speak(server, ["Hello", "big", "world"])
    texts = [m for m in messages if m["type"] == "Text"]
    assert [m["text"] for m in texts] == ["Hello", "big", "world"]
    assert all(m["stop_s"] > m["start_s"] >= 0 for m in texts)


async def test_audio_messages_carry_float_pcm(server: ServerThread) -> None:
    messages, _ = await speak(server, ["Hello", "world"])
    audio = [np.asarray(m["pcm"], dtype=np.float32) for m in messages if m["type"] == "Audio"]
    assert len(audio) == 4 and all(len(a) == 2048 for a in audio)
    assert all(np.abs(a).max() <= 1.0 for a in audio)


async def test_audio_samples_travel_as_float32_half_the_bytes_of_doubles(
    server: ServerThread,
) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        await ws.send(pack({"type": "Text", "text": "Hello"}))
        await ws.send(pack({"type": "Eos"}))
        frames = [f for f in await read_frames(ws) if unpack(f)["type"] == "Audio"]
    assert frames and all(len(f) < 6 * 2048 for f in frames)  # msgpack float32: 5 bytes


async def read_frames(ws: ClientConnection) -> list[bytes]:
    """Every raw frame until the server closes."""
    frames: list[bytes] = []
    with contextlib.suppress(ConnectionClosed):
        async for m in ws:
            assert isinstance(m, bytes)
            frames.append(m)
    return frames


async def test_server_closes_normally_after_eos(server: ServerThread) -> None:
    _, code = await speak(server, ["Hello"])
    assert code == 1000


async def test_eos_without_text_closes_normally_with_no_audio(server: ServerThread) -> None:
    messages, code = await speak(server, [])
    assert messages == [] and code == 1000


async def test_words_sent_separately_are_not_glued_together(
    server: ServerThread, engine: FakeEngine
) -> None:
    messages, _ = await speak(server, ["Hel", "lo,", " there "])
    assert [m["text"] for m in messages if m["type"] == "Text"] == ["Hel", "lo,", "there"]


async def test_other_query_parameters_are_ignored(server: ServerThread) -> None:
    async with websockets.connect(
        server.ws + UNMUTE + "&cfg_alpha=1.5&seed=42&max_seq_len=250"
    ) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}


async def test_unknown_voice_is_an_error_listing_voices_then_close(server: ServerThread) -> None:
    async with websockets.connect(server.ws + "/api/tts_streaming?voice=nobody") as ws:
        messages = await read_messages(ws)
    assert messages[0]["type"] == "Error" and "tara" in messages[0]["message"]
    assert ws.close_code == 1008


async def test_unsupported_format_is_an_error_then_close(server: ServerThread) -> None:
    async with websockets.connect(server.ws + "/api/tts_streaming?format=OggOpus") as ws:
        messages = await read_messages(ws)
    assert messages[0]["type"] == "Error" and "PcmMessagePack" in messages[0]["message"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xc1\xff\x00garbage", 1003),  # not msgpack
        (bytes([0x93, 1, 2, 3]), 1003),  # msgpack [1, 2, 3]: not a map
        (pack({"type": "Dance"}), 1003),  # unknown message type
        (pack({"type": "Text", "text": 5}), 1003),  # wrong field type
        ("{not json", 1007),  # a text frame that is not JSON
    ],
)
async def test_malformed_frame_gets_an_error_then_close(
    server: ServerThread, engine: FakeEngine, frame: bytes | str, code: int
) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()  # Ready
        await ws.send(frame)
        messages = await read_messages(ws)
    assert messages[-1]["type"] == "Error" and "malformed" in messages[-1]["message"]
    assert ws.close_code == code


async def test_json_text_frames_are_accepted_as_messages(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "Text", "text": "Hi"}))
        await ws.send(json.dumps({"type": "Eos"}))
        messages = await read_messages(ws)
    assert [m["text"] for m in messages if m["type"] == "Text"] == ["Hi"]


async def test_a_malformed_session_leaves_other_sessions_unaffected(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.chunk_delay_s = 0.02
    async with websockets.connect(server.ws + UNMUTE) as good:
        await good.recv()
        for word in ["one", "two", "three"]:
            await good.send(pack({"type": "Text", "text": word}))
        async with websockets.connect(server.ws + UNMUTE) as bad:
            await bad.recv()
            await bad.send(b"\xc1garbage")
            await read_messages(bad)
        await good.send(pack({"type": "Eos"}))
        messages = await read_messages(good)
    assert good.close_code == 1000
    assert [m["text"] for m in messages if m["type"] == "Text"] == ["one", "two", "three"]
    assert sum(m["type"] == "Audio" for m in messages) == 6


async def test_at_capacity_the_error_is_no_free_channels_then_close(server: ServerThread) -> None:
    async with (
        websockets.connect(server.ws + UNMUTE) as a,
        websockets.connect(server.ws + UNMUTE) as b,
    ):
        await a.recv()
        await b.recv()
        async with websockets.connect(server.ws + UNMUTE) as third:
            messages = await read_messages(third)
        assert messages == [{"type": "Error", "message": "no free channels"}]


async def test_a_channel_frees_when_its_session_closes(server: ServerThread) -> None:
    for _ in range(3):  # capacity is 2: each session must give its channel back
        messages, code = await speak(server, ["hi"])
        assert code == 1000 and messages[0]["type"] != "Error"


async def test_client_leaving_mid_stream_cancels_the_synthesis(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.chunk_delay_s = 0.05
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()
        for word in ["a", "b", "c", "d", "e", "f"]:
            await ws.send(pack({"type": "Text", "text": word}))
        while unpack(await ws.recv())["type"] != "Audio":
            pass
    await wait_until(lambda: engine.cancelled > 0)
    assert engine.cancelled == 1 and engine.finished == 0


async def test_service_shutdown_cancels_a_session_that_is_streaming(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.chunk_delay_s = 0.05
    idle_tasks = server.task_names()
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()
        await ws.send(pack({"type": "Text", "text": "a b c d e f g h"}))
        while unpack(await ws.recv())["type"] != "Audio":
            pass
        ctx = server.app.state.orpheus
        server.call(ctx.shutdown())  # while the writer iterates the synthesis
        await read_messages(ws)
        assert ws.close_code is not None and ws.close_code != 1000
    assert engine.cancelled == 1 and engine.finished == 0
    assert ctx.limiter.active == 0 and not ctx.sessions
    assert server.task_names() == idle_tasks


async def test_engine_failure_is_an_error_message_then_close(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.fail_after_words = 1
    messages, code = await speak(server, ["one", "two"])
    assert messages[-1]["type"] == "Error" and code == 1011


# -- Orpheus-FastAPI's socket ----------------------------------------------------------------------


async def pcm_socket(
    server: ServerThread, first: str | bytes, query: str = PCM_SOCKET
) -> tuple[list[Any], int | None]:
    async with websockets.connect(server.ws + query) as ws:
        with contextlib.suppress(ConnectionClosed):  # a refusal may close it first
            await ws.send(first)
        received: list[Any] = []
        with contextlib.suppress(ConnectionClosed):
            async for m in ws:
                received.append(m)
        return received, ws.close_code


async def test_pcm_socket_streams_16_bit_pcm_then_closes(server: ServerThread) -> None:
    received, code = await pcm_socket(server, "Hello world")
    assert code == 1000 and all(isinstance(m, bytes) for m in received)
    assert sum(len(m) for m in received) == 2 * 4 * 2048


async def test_pcm_socket_takes_a_json_object_with_input_and_voice(
    server: ServerThread, engine: FakeEngine
) -> None:
    received, code = await pcm_socket(server, json.dumps({"input": "Hi", "voice": "zoe"}))
    assert code == 1000 and engine.syntheses[-1].voice == "zoe"
    assert sum(len(m) for m in received) == 2 * 2 * 2048


async def test_pcm_socket_refuses_a_binary_first_frame(server: ServerThread) -> None:
    received, code = await pcm_socket(server, b"\x00\x01")
    assert json.loads(received[-1])["type"] == "error" and code == 1003


async def test_pcm_socket_refuses_malformed_json(server: ServerThread) -> None:
    received, code = await pcm_socket(server, '{"input": ')
    assert "malformed JSON" in json.loads(received[-1])["error"] and code == 1007


async def test_pcm_socket_refuses_empty_text(server: ServerThread) -> None:
    received, code = await pcm_socket(server, "   ")
    assert "empty" in json.loads(received[-1])["error"] and code == 1007


async def test_pcm_socket_refuses_an_unknown_voice(server: ServerThread) -> None:
    received, code = await pcm_socket(server, "Hi", "/v1/audio/speech/stream/ws?voice=nobody")
    assert "unknown Orpheus voice" in json.loads(received[-1])["error"] and code == 1008


async def test_pcm_socket_names_voice_when_the_voice_is_not_a_string(server: ServerThread) -> None:
    received, code = await pcm_socket(server, json.dumps({"input": "hi", "voice": 5}))
    error = json.loads(received[-1])["error"]
    assert "'voice'" in error and "'input'" not in error and code == 1007
