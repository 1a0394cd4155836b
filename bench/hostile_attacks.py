"""The attacks of bench/hostile.py: each one hostile client, returning what it got."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgpack
import websockets

UNMUTE_PATH = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
PCM_PATH = "/v1/audio/speech/stream/ws"
MEGABYTE = 1_000_000
SENTENCE = "This is one more sentence of a very long story. "
WORD_FLOOD_S = 8.0
"""How long the word flood goes on when the service does not stop it first."""


@dataclass(frozen=True)
class Target:
    """The service under attack."""

    http: str
    ws: str
    llama_url: str
    log_path: Path
    max_sessions: int
    idle_timeout_s: float
    source: str = "127.0.0.2"
    """The attacker's own loopback address: to the service, one client of its own."""

    def connect(self, path: str, **options: Any) -> Any:
        """A WebSocket to `path` from the attacker's address."""
        return websockets.connect(self.ws + path, local_addr=(self.source, 0), **options)

    def http_client(self, timeout_s: float) -> httpx.AsyncClient:
        """An HTTP client from the attacker's address."""
        transport = httpx.AsyncHTTPTransport(local_address=self.source)
        return httpx.AsyncClient(transport=transport, timeout=timeout_s)


def pack(message: Any) -> bytes:
    data: bytes = msgpack.packb(message)  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    return data


def describe(frame: str | bytes) -> str:
    """An Error message of either socket, shortly; else the frame's kind."""
    with contextlib.suppress(Exception):
        data: Any = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
        if isinstance(data, dict) and data.get("type") in ("Error", "error"):
            return str(data.get("message") or data.get("error"))[:60]
        if isinstance(data, dict):
            return str(data.get("type"))
    return type(frame).__name__


async def until_closed(ws: Any, timeout_s: float = 30.0) -> str:
    """Read until the server closes; 'close CODE: first error' (or what came)."""
    first: str | None = None
    audio = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for frame in ws:
                kind = describe(frame)
                if kind == "Audio" or (isinstance(frame, bytes) and kind == "bytes"):
                    audio += 1
                elif first is None and kind != "Ready":
                    first = kind
    except TimeoutError:
        return f"still open after {timeout_s:g} s ({audio} audio frames)"
    except websockets.ConnectionClosed:
        pass
    code = ws.close_code
    return f"close {code}: {first or f'{audio} audio frames'}"


async def text_1mb_message(target: Target) -> str:
    """1 MB of text in one Text message, then Eos."""
    async with target.connect(UNMUTE_PATH, max_size=None) as ws:
        await ws.recv()  # Ready
        text = (SENTENCE * (MEGABYTE // len(SENTENCE) + 1))[:MEGABYTE]
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(pack({"type": "Text", "text": text}))
            await ws.send(pack({"type": "Eos"}))
        return await until_closed(ws)


async def text_1mb_words(target: Target) -> str:
    """1 MB of text as one-word Text messages, as fast as the service takes them, for
    up to WORD_FLOOD_S (until the service stops it), then Eos."""
    async with target.connect(UNMUTE_PATH, max_size=None) as ws:
        await ws.recv()  # Ready
        frame = pack({"type": "Text", "text": " word"})
        sent = 0
        began = time.perf_counter()
        with contextlib.suppress(websockets.ConnectionClosed):
            while sent < MEGABYTE and time.perf_counter() - began < WORD_FLOOD_S:
                await ws.send(frame)  # waits while the service reads no more
                sent += 5
                if sent % 5_000 == 0:
                    await asyncio.sleep(0)  # let the reader see an early close
            await ws.send(pack({"type": "Eos"}))
        took = time.perf_counter() - began
        outcome = await until_closed(ws, 10)
        return f"{sent // 1000} kB sent in {took:.1f} s; {outcome}"


async def request_100k(target: Target) -> str:
    """A 100,000-character POST /v1/audio/speech/stream; read 3 s of it, then leave."""
    text = (SENTENCE * (100_000 // len(SENTENCE) + 1))[:100_000]
    began = time.perf_counter()
    async with (
        target.http_client(30) as client,
        client.stream(
            "POST", f"{target.http}/v1/audio/speech/stream", json={"input": text}
        ) as reply,
    ):
        first: float | None = None
        received = 0
        async for chunk in reply.aiter_bytes():
            first = first or time.perf_counter() - began
            received += len(chunk)
            if time.perf_counter() - began > 3:
                break
    start = "no audio" if first is None else f"first audio {first * 1000:.0f} ms"
    return f"HTTP {reply.status_code}, {start}, {received // 1000} kB in 3 s"


async def idle_sockets(target: Target) -> str:
    """Sockets that send nothing on both WebSockets, up to the session limit."""
    sockets: list[Any] = []
    paths = [UNMUTE_PATH, PCM_PATH]
    with contextlib.suppress(Exception):
        for index in range(target.max_sessions):
            sockets.append(await target.connect(paths[index % 2], max_size=None))
    began = time.perf_counter()
    outcomes = await asyncio.gather(
        *(until_closed(ws, target.idle_timeout_s + 15) for ws in sockets)
    )
    took = time.perf_counter() - began
    codes = Counter(outcome.split(":")[0] for outcome in outcomes)
    return f"{len(sockets)} idle, all closed in {took:.1f} s ({dict(codes)})"


MALFORMED: list[tuple[str, str | bytes]] = [
    (UNMUTE_PATH, b"\xc1\xff\x00"),
    (UNMUTE_PATH, b""),
    (UNMUTE_PATH, pack([1, 2, 3])),
    (UNMUTE_PATH, pack({"type": "Text", "text": 5})),
    (UNMUTE_PATH, pack({"type": "Voice", "embeddings": []})),
    (UNMUTE_PATH, b"\x91" * 5000 + b"\x90"),  # arrays nested 5000 deep
    (UNMUTE_PATH, "not json"),
    (UNMUTE_PATH, "[" * 5000 + "]" * 5000),
    (UNMUTE_PATH, '{"type": "Text", "text": "\\ud800"}'),
    (UNMUTE_PATH, pack({"type": "Text", "text": "a" * 200_000})),
    (PCM_PATH, b"binary first"),
    (PCM_PATH, "{not json"),
    (PCM_PATH, '{"input": 5}'),
    (PCM_PATH, '{"input": "\\ud800 hello"}'),
    (PCM_PATH, "   "),
    (PCM_PATH, "[" * 5000 + "]" * 5000),
]


async def malformed_frames(target: Target) -> str:
    """Each bad frame on a fresh socket; the close codes the service answered with."""
    codes: Counter[str] = Counter()
    for path, frame in MALFORMED:
        async with target.connect(path, max_size=None) as ws:
            if path == UNMUTE_PATH:
                await ws.recv()  # Ready
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(frame)
            outcome = await until_closed(ws, 10)
            codes[outcome.split(":")[0]] += 1
    return f"{len(MALFORMED)} frames: {dict(codes)}"


async def _drop(target: Target, index: int) -> None:
    kind = index % 4
    if kind == 3:
        with contextlib.suppress(httpx.HTTPError):
            async with (
                target.http_client(10) as client,
                client.stream("POST", f"{target.http}/v1/audio/speech", json={"input": SENTENCE}),
            ):
                pass  # headers in, body dropped
        return
    path = PCM_PATH if kind == 2 else UNMUTE_PATH
    with contextlib.suppress(Exception):
        ws = await target.connect(path, max_size=None, open_timeout=10)
        if kind == 1:
            await ws.recv()
            await ws.send(pack({"type": "Text", "text": SENTENCE}))
        elif kind == 2:
            await ws.send(SENTENCE)
        ws.transport.abort()


async def connect_disconnect(target: Target) -> str:
    """300 sockets and requests dropped at once or mid-way, 20 at a time."""
    limit = asyncio.Semaphore(20)

    async def one(index: int) -> None:
        async with limit:
            await _drop(target, index)

    began = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(300)))
    return f"300 dropped in {time.perf_counter() - began:.1f} s"


ATTACKS: dict[str, Callable[[Target], Coroutine[Any, Any, str]]] = {
    "text_1mb_message": text_1mb_message,
    "text_1mb_words": text_1mb_words,
    "request_100k": request_100k,
    "idle_sockets": idle_sockets,
    "malformed_frames": malformed_frames,
    "connect_disconnect": connect_disconnect,
}
