"""On the real stack (llama-server with a tiny never-ending model, random SNAC): a close
behind 300 queued one-word messages stops the session's llama work at once."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
import websockets

from orpheus_service.llama.client import LlamaClient
from orpheus_service.llama.server import LlamaServerProcess
from tests.support.llama import wait_slots_idle
from tests.support.service_support import RealService, pack, unpack
from tests.support.socket_checks import active_sessions

pytestmark = pytest.mark.llama

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
WORDS = 300
HONOURED_WITHIN_S = 0.2


async def test_a_close_behind_300_queued_words_stops_the_llama_work_within_200_ms(
    real_service: RealService, llama_orpheus_drops_server: LlamaServerProcess
) -> None:
    server = real_service(llama_orpheus_drops_server.base_url, max_tokens=3500)
    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as llama:
        await wait_slots_idle(llama)
        async with websockets.connect(server.ws + UNMUTE) as ws:
            assert unpack(await ws.recv())["type"] == "Ready"
            for index in range(WORDS):
                await ws.send(pack({"type": "Text", "text": f" Word{index}."}))
            while unpack(await ws.recv())["type"] != "Audio":
                pass
            assert await llama.processing_slots() == 1
            began = time.monotonic()
            closing = asyncio.create_task(ws.close())
            await wait_slots_idle(llama, timeout_s=5.0)
            freed_s = time.monotonic() - began
            await closing
            closed_s = time.monotonic() - began
    assert freed_s < HONOURED_WITHIN_S, f"llama slot busy {freed_s:.3f} s after the close"
    assert closed_s < HONOURED_WITHIN_S and ws.close_code == 1000
    assert await active_sessions(server) == 0
