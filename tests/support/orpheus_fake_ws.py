"""A local fake of the Orpheus service's WebSocket for the `orpheus` backend's tests.

`fake_service(handler)` serves unmute's protocol on 127.0.0.1 (a free port) with a
handler that plays one behaviour (speaking, refusing, dropping, stalling); `Fake` holds
what it saw and its knobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from backends.orpheus.settings import OrpheusClientSettings
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSErrorMessage,
)

API_KEY = "sk-test-3f9a1c"
MODAL_KEY = "wk-test-77aa"
MODAL_SECRET = "ws-test-secret-0b1e"
SECRETS = (API_KEY, MODAL_KEY, MODAL_SECRET)
CHUNK = 2400  # 0.1 s per audio chunk


def pack(message: dict[str, Any]) -> bytes:
    return cast(bytes, msgpack.packb(message))  # pyright: ignore[reportUnknownMemberType]


def unpack(raw: str | bytes) -> dict[str, Any]:
    assert isinstance(raw, bytes)
    return cast(dict[str, Any], msgpack.unpackb(raw))  # pyright: ignore[reportUnknownMemberType]


def audio(value: float = 0.1) -> dict[str, Any]:
    return {"type": "Audio", "pcm": [value] * CHUNK}


# -- the fake service --------------------------------------------------------------------


@dataclass
class Fake:
    """What the fake service saw, and its knobs."""

    api_key: str | None = None
    refuse_status: list[int] = field(default_factory=lambda: list[int]())
    """HTTP statuses answered to the first handshakes, one per connection."""
    connections: int = 0
    requests: list[Request] = field(default_factory=lambda: list[Request]())
    words: list[str] = field(default_factory=lambda: list[str]())
    eos: bool = False
    closed_at: float | None = None
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    health_status: list[int] = field(default_factory=lambda: list[int]())
    health_requests: int = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            self.health_requests += 1
            status = self.health_status.pop(0) if self.health_status else 200
            return connection.respond(HTTPStatus(status), "health\n")
        self.connections += 1
        self.requests.append(request)
        if self.refuse_status:
            return connection.respond(HTTPStatus(self.refuse_status.pop(0)), "refused\n")
        if self.api_key is not None and request.headers.get("kyutai-api-key") != self.api_key:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Invalid API key\n")
        return None

    def saw_close(self, exc: ConnectionClosed) -> None:
        self.closed_at = time.monotonic()
        self.close_code = exc.rcvd.code if exc.rcvd is not None else None
        self.closed.set()


Handler = Callable[[ServerConnection, Fake], Awaitable[None]]


async def speak_words(ws: ServerConnection, fake: Fake) -> None:
    """The well-behaved service: Ready, then per word a Text and an Audio chunk."""
    await ws.send(pack({"type": "Ready"}))
    t = 0.0
    async for raw in ws:
        message = unpack(raw)
        if message["type"] == "Eos":
            fake.eos = True
            break
        fake.words.append(message["text"])
        await ws.send(
            pack({"type": "Text", "text": message["text"], "start_s": t, "stop_s": t + 0.1})
        )
        await ws.send(pack(audio()))
        t += 0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def fake_service(
    handler: Handler = speak_words, fake: Fake | None = None, port: int = 0
) -> AsyncIterator[tuple[str, Fake]]:
    fake = fake or Fake()

    async def run(ws: ServerConnection) -> None:
        try:
            await handler(ws, fake)
        except ConnectionClosed as exc:
            fake.saw_close(exc)
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.close()

    async with serve(run, "127.0.0.1", port, process_request=fake.process_request) as server:
        bound: int = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{bound}", fake


def settings(url: str, **overrides: Any) -> OrpheusClientSettings:
    values: dict[str, Any] = {
        "fastapi_url": url,
        "startup_budget_s": 5.0,
        "retry_initial_backoff_s": 0.05,
        "retry_max_backoff_s": 0.2,
        "ws_connect_timeout_s": 2.0,
    }
    values.update(overrides)
    return OrpheusClientSettings(**values)


def audio_chunks(messages: list[OutputMessage]) -> list[TTSAudioMessage]:
    return [m for m in messages if isinstance(m, TTSAudioMessage)]


def errors(messages: list[OutputMessage]) -> list[TTSErrorMessage]:
    return [m for m in messages if isinstance(m, TTSErrorMessage)]
