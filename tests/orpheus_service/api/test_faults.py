"""Faults on the real stack: client gone, llama-server down, dying, stalling, garbage.

Real llama-server with tiny GGUFs (or a fake TCP server for stalls and garbage),
random-weight SNAC, the app under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from orpheus_service.llama.client import LlamaClient
from orpheus_service.llama.server import LlamaServerProcess, free_port
from orpheus_service.vocabulary.tokens import AUDIO_TOKEN_BASE
from tests.support.llama import (
    ORPHEUS_DROPS,
    ORPHEUS_USER_DEFINED,
    LlamaServers,
    fake_http_server,
    http_reply,
    sse_reply,
    tiny_server_config,
    wait_slots_idle,
    wait_until,
)
from tests.support.service_support import RealService, ServerThread, pack, unpack

pytestmark = pytest.mark.llama

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
LONG = {"max_tokens": 3500}
"""The drops model never ends by itself: a request runs for seconds unless cancelled."""
TEXT = {"input": "Tell me a long story.", "voice": "tara"}


def llama_connections(port: int) -> int:
    """ESTABLISHED TCP connections of this machine to `port` (client side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":
                count += 1
    return count


def request_tasks(server: ServerThread) -> list[str]:
    """Tasks on the server's loop, without the long-lived decode scheduler."""
    return [name for name in server.task_names() if name != "decode-scheduler"]


async def active_sessions(server: ServerThread) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("orpheus_active_sessions "))
    return float(line.split()[1])


@pytest.fixture
def drops(llama_orpheus_drops_server: LlamaServerProcess) -> LlamaServerProcess:
    return llama_orpheus_drops_server


@pytest.fixture
def own_llama(llama_servers: LlamaServers) -> Iterator[LlamaServerProcess]:
    """A never-ending tiny llama-server of this test alone (it may be killed)."""
    config = tiny_server_config(ORPHEUS_DROPS.write(llama_servers.model_dir))
    process = LlamaServerProcess(config, binary=llama_servers.binary, startup_timeout_s=30)
    process.start()
    yield process
    process.stop()


# -- client disconnect ----------------------------------------------------------------------


async def test_http_client_leaving_cancels_llama_within_100_ms(
    real_service: RealService, drops: LlamaServerProcess
) -> None:
    server = real_service(drops.base_url, **LONG)
    baseline = request_tasks(server)
    async with contextlib.aclosing(LlamaClient(drops.base_url)) as llama:
        await wait_slots_idle(llama)
        async with httpx.AsyncClient(timeout=10) as client:
            async with client.stream(
                "POST", f"{server.http}/v1/audio/speech/stream", json=TEXT
            ) as r:
                chunks = r.aiter_raw()
                await anext(chunks)
                assert await llama.processing_slots() == 1
                await r.aclose()
            left = time.monotonic()
        waited = await wait_slots_idle(llama, timeout_s=2.0)
        freed_s = time.monotonic() - left
    assert freed_s < 0.1, f"llama slot still busy {waited:.3f} s after the client left"
    assert llama_connections(drops.port) == 0
    assert request_tasks(server) == baseline
    assert await active_sessions(server) == 0


async def test_websocket_client_leaving_cancels_llama_within_100_ms(
    real_service: RealService, drops: LlamaServerProcess
) -> None:
    server = real_service(drops.base_url, **LONG)
    baseline = request_tasks(server)
    async with contextlib.aclosing(LlamaClient(drops.base_url)) as llama:
        await wait_slots_idle(llama)
        async with websockets.connect(server.ws + UNMUTE) as ws:
            await ws.recv()  # Ready
            await ws.send(pack({"type": "Text", "text": "Tell me a long story."}))
            await ws.send(pack({"type": "Eos"}))
            while unpack(await ws.recv())["type"] != "Audio":
                pass
            assert await llama.processing_slots() == 1
        left = time.monotonic()
        await wait_slots_idle(llama, timeout_s=2.0)
        freed_s = time.monotonic() - left
    assert freed_s < 0.1
    assert llama_connections(drops.port) == 0

    async def handler_returned() -> bool:  # once the close handshake is done
        return request_tasks(server) == baseline

    await wait_until(handler_returned, timeout_s=2.0)


async def test_cancelled_generation_is_counted_in_metrics(
    real_service: RealService, drops: LlamaServerProcess
) -> None:
    server = real_service(drops.base_url, **LONG)
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("POST", f"{server.http}/v1/audio/speech", json=TEXT) as r:
            await anext(r.aiter_raw())

        async def counted() -> bool:
            text = (await client.get(f"{server.http}/metrics")).text
            return 'orpheus_cancelled_generations_total{reason="client_gone"} 1.0' in text

        await wait_until(counted, timeout_s=5.0)


async def test_dropped_frames_are_counted_in_metrics(
    real_service: RealService, drops: LlamaServerProcess
) -> None:
    server = real_service(drops.base_url, max_tokens=210, segment_max_chars=30)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{server.http}/v1/audio/speech", json=TEXT | {"response_format": "pcm"}
        )
        assert r.status_code == 200
        text = (await client.get(f"{server.http}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("orpheus_dropped_frames_total"))
    assert float(line.split()[1]) >= 5  # every third of 30 frames is spoiled


# -- llama-server down, dying, stalling, garbage ---------------------------------------------


async def test_llama_down_at_start_gives_503_naming_llama(real_service: RealService) -> None:
    server = real_service(f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(timeout=10) as client:
        health = await client.get(f"{server.http}/health")
        r = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
    assert health.status_code == 503 and "connect" in health.json()["llama"]
    assert r.status_code == 503 and "llama-server" in r.json()["error"]["message"]


async def test_llama_down_gives_websocket_error_then_close(real_service: RealService) -> None:
    server = real_service(f"http://127.0.0.1:{free_port()}")
    async with websockets.connect(server.ws + UNMUTE) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}
        await ws.send(pack({"type": "Text", "text": "Hello."}))
        await ws.send(pack({"type": "Eos"}))
        message = unpack(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert message["type"] == "Error" and "llama-server" in message["message"]
    assert ws.close_code == 1011


async def test_service_serves_once_llama_comes_up(
    real_service: RealService, llama_servers: LlamaServers
) -> None:
    port = free_port()
    server = real_service(f"http://127.0.0.1:{port}")
    async with httpx.AsyncClient(timeout=10) as client:
        down = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
        config = tiny_server_config(ORPHEUS_USER_DEFINED.write(llama_servers.model_dir), port=port)
        with LlamaServerProcess(config, binary=llama_servers.binary):
            up = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
            health = await client.get(f"{server.http}/health")
    assert down.status_code == 503
    assert up.status_code == 200 and len(up.content) > 0 and health.status_code == 200


async def test_llama_dying_mid_stream_gives_websocket_error(
    real_service: RealService, own_llama: LlamaServerProcess
) -> None:
    server = real_service(own_llama.base_url, **LONG)
    async with websockets.connect(server.ws + UNMUTE) as ws:
        await ws.recv()
        await ws.send(pack({"type": "Text", "text": "Tell me a long story."}))
        await ws.send(pack({"type": "Eos"}))
        while unpack(await asyncio.wait_for(ws.recv(), 10))["type"] != "Audio":
            pass
        assert own_llama.process is not None
        own_llama.process.kill()
        messages = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                messages.append(unpack(await asyncio.wait_for(ws.recv(), 10)))
    errors = [m for m in messages if m["type"] == "Error"]
    assert len(errors) == 1 and "llama-server" in errors[0]["message"]
    assert ws.close_code == 1011
    assert await active_sessions(server) == 0


async def test_llama_dying_mid_stream_breaks_the_http_transfer(
    real_service: RealService, own_llama: LlamaServerProcess
) -> None:
    server = real_service(own_llama.base_url, **LONG)
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("POST", f"{server.http}/v1/audio/speech/stream", json=TEXT) as r:
            chunks = r.aiter_raw()
            await anext(chunks)
            assert own_llama.process is not None
            own_llama.process.kill()
            with pytest.raises(httpx.RemoteProtocolError):
                async for _ in chunks:
                    pass
        health = await client.get(f"{server.http}/health")
    assert health.status_code == 503  # and the service itself still answers


async def test_llama_stalling_times_out_with_504(real_service: RealService) -> None:
    chunk = json.dumps({"content": "", "tokens": [AUDIO_TOKEN_BASE], "stop": False})
    async with fake_http_server(sse_reply(chunk, complete=False), close=False) as url:
        server = await asyncio.to_thread(
            real_service, url, read_timeout_s=0.3
        )  # fake server runs here
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
        elapsed = time.monotonic() - started
    assert r.status_code == 504 and r.json()["error"]["code"] == "llama_timeout"
    assert elapsed < 3.0


async def test_llama_stalling_gives_websocket_error(real_service: RealService) -> None:
    async with fake_http_server(None) as url:
        server = await asyncio.to_thread(
            real_service, url, read_timeout_s=0.3
        )  # fake server runs here
        async with websockets.connect(server.ws + UNMUTE) as ws:
            await ws.recv()
            await ws.send(pack({"type": "Text", "text": "Hello."}))
            await ws.send(pack({"type": "Eos"}))
            message = unpack(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] == "Error" and "stalled" in message["message"]


@pytest.mark.parametrize(
    "reply",
    [
        http_reply(b"<html>teapot</html>", content_type="text/html"),
        sse_reply("this is not json"),
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["html", "sse-not-json", "not-http"],
)
async def test_llama_answering_garbage_gives_502(real_service: RealService, reply: bytes) -> None:
    async with fake_http_server(reply) as url:
        server = await asyncio.to_thread(real_service, url)  # fake server runs here
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
    assert r.status_code == 502 and "llama-server" in r.json()["error"]["message"]


async def test_model_writing_no_audio_tokens_gives_502(
    real_service: RealService, llama_random_server: LlamaServerProcess
) -> None:
    server = real_service(llama_random_server.base_url, max_tokens=210, segment_max_chars=30)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
    assert r.status_code == 502 and "no" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "no_audio"


async def test_service_keeps_serving_other_sessions_after_a_garbage_answer(
    real_service: RealService,
) -> None:
    async with fake_http_server(b"garbage\r\n\r\n") as url:
        server = await asyncio.to_thread(real_service, url)  # fake server runs here
        async with httpx.AsyncClient(timeout=10) as client:
            first = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
            second = await client.post(f"{server.http}/v1/audio/speech", json=TEXT)
            voices = await client.get(f"{server.http}/v1/audio/voices")
    assert first.status_code == second.status_code == 502
    assert voices.status_code == 200
    assert await active_sessions(server) == 0
