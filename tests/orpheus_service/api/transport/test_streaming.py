"""LiveStreamingResponse driven as ASGI: it stops its producer the moment the client goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message

from orpheus_service.api.transport.streaming import LiveStreamingResponse

SCOPE: dict[str, Any] = {"type": "http"}


class Client:
    """The ASGI side of one HTTP client: what was sent to it, and when it leaves."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def test_every_chunk_goes_out_then_the_end_of_the_body() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b""
        yield b"cd"

    done: list[bool] = []

    async def on_done(client_gone: bool) -> None:
        done.append(client_gone)

    client = Client()
    response = LiveStreamingResponse(chunks(), media_type="audio/pcm", on_done=on_done)
    await response(SCOPE, client.receive, client.send)
    assert client.body() == b"abcd"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert done == [False]


async def test_a_client_that_leaves_stops_the_producer_at_once() -> None:
    client = Client()
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            client.gone.set()
            await asyncio.Event().wait()  # a producer waiting on llama-server
            yield b"never"
        finally:
            closed.set()

    response = LiveStreamingResponse(forever(), media_type="audio/pcm")
    await asyncio.wait_for(response(SCOPE, client.receive, client.send), 5)
    assert response.client_gone and closed.is_set()
    assert client.body() == b"first"


async def test_a_producer_failing_after_the_headers_leaves_the_body_incomplete() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"some audio"
        raise RuntimeError("llama-server went away")

    client = Client()
    response = LiveStreamingResponse(failing(), media_type="audio/pcm")
    await response(SCOPE, client.receive, client.send)
    assert isinstance(response.failed, RuntimeError)
    assert all(m.get("more_body", True) for m in client.sent if m["type"] == "http.response.body")


async def test_a_client_that_leaves_the_body_unread_is_dropped() -> None:
    client = Client()

    async def blocked_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            await asyncio.Event().wait()  # the client's socket buffer is full
        await client.send(message)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"audio"

    response = LiveStreamingResponse(chunks(), media_type="audio/pcm", send_timeout_s=0.05)
    await asyncio.wait_for(response(SCOPE, client.receive, blocked_send), 5)
    assert response.stalled and response.client_gone
