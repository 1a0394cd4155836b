"""/api/tts_streaming's per-session options on a fake engine: sampling overrides in the
query (checked like the ORPHEUS_* settings) and the idle timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from orpheus_service.vocabulary.sampling import SamplingOverrides
from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service, unpack
from tests.support.socket_checks import read_messages

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunks_per_word=1)


@pytest.fixture
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, max_sessions=1, session_idle_timeout_s=0.3)
    yield srv
    srv.stop()


async def speak(server: ServerThread, query: str) -> tuple[list[dict[str, Any]], int | None]:
    async with websockets.connect(server.ws + UNMUTE + query) as ws:
        first = unpack(await ws.recv())
        if first["type"] != "Ready":
            return [first, *await read_messages(ws)], ws.close_code
        await ws.send(pack({"type": "Text", "text": "hello"}))
        await ws.send(pack({"type": "Eos"}))
        return await read_messages(ws), ws.close_code


async def test_sampling_query_keys_reach_the_engine_for_that_session(
    server: ServerThread, engine: FakeEngine
) -> None:
    _, code = await speak(server, "&temperature=0.3&top_p=0.5&repetition_penalty=1.3")
    assert code == 1000
    assert engine.syntheses[-1].sampling == SamplingOverrides(
        temperature=0.3, top_p=0.5, repetition_penalty=1.3
    )


async def test_without_sampling_query_keys_the_engine_gets_no_overrides(
    server: ServerThread, engine: FakeEngine
) -> None:
    _, code = await speak(server, "&cfg_alpha=1.5")
    assert code == 1000
    assert engine.syntheses[-1].sampling is None


@pytest.mark.parametrize(
    "query",
    ["&temperature=2.5", "&top_p=0", "&repetition_penalty=0.9", "&temperature=hot", "&top_p=nan"],
)
async def test_out_of_bounds_sampling_value_is_an_error_then_close(
    server: ServerThread, engine: FakeEngine, query: str
) -> None:
    messages, code = await speak(server, query)
    name = query[1:].split("=")[0]
    assert messages[0]["type"] == "Error" and name in messages[0]["message"]
    assert code == 1008
    assert engine.syntheses == []


async def test_idle_client_gets_idle_timeout_error_and_close(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}
        messages = await asyncio.wait_for(read_messages(ws), 5)
    assert messages == [{"type": "Error", "message": "idle timeout"}]
    assert ws.close_code == 1008


async def test_idle_timeout_frees_the_channel(server: ServerThread) -> None:
    async with websockets.connect(server.ws + UNMUTE) as idle:
        assert unpack(await idle.recv()) == {"type": "Ready"}
        await asyncio.wait_for(read_messages(idle), 5)
    messages, code = await speak(server, "")  # capacity is 1
    assert code == 1000 and messages[0]["type"] != "Error"


async def test_client_sending_text_within_the_idle_timeout_is_not_closed(
    server: ServerThread,
) -> None:
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}
        for word in ["one", "two", "three", "four"]:  # 0.8 s in all, gaps of 0.2 s
            await asyncio.sleep(0.2)
            await ws.send(pack({"type": "Text", "text": word}))
        await ws.send(pack({"type": "Eos"}))
        messages = await read_messages(ws)
    assert ws.close_code == 1000
    assert all(m["type"] != "Error" for m in messages)


async def test_idle_timeout_zero_disables_it(engine: FakeEngine) -> None:
    srv = start_fake_service(engine, session_idle_timeout_s=0)
    try:
        async with websockets.connect(srv.ws + UNMUTE) as ws:
            assert unpack(await ws.recv()) == {"type": "Ready"}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
            await ws.send(pack({"type": "Eos"}))
            await read_messages(ws)
        assert ws.close_code == 1000
    finally:
        srv.stop()
