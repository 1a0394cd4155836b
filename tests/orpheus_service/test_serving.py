"""The uvicorn options of the service: the configured WebSocket implementation is the one
`unmute-tts serve` runs, and the paced one parses a flood of frames a little per turn."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode

from orpheus_service.serving import FEED_BYTES, PacedWebSocketsProtocol, uvicorn_options
from tests.support.service_support import ServerThread, service_settings

HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def test_serve_runs_uvicorn_with_the_configured_websocket_implementation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from unmute.tts.cli import build_parser

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    monkeypatch.setenv("ORPHEUS_WS_IMPLEMENTATION", "wsproto")
    args = build_parser().parse_args(["serve", "--snac-device", "cpu"])
    assert args.func(args) == 0
    assert seen["ws"] == "wsproto"


def test_the_default_websocket_implementation_is_the_paced_one() -> None:
    assert uvicorn_options(service_settings())["ws"] is PacedWebSocketsProtocol


def test_an_unknown_websocket_implementation_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orpheus_service.settings import OrpheusSettings
    from unmute.tts.settings import SettingsError

    monkeypatch.setenv("ORPHEUS_WS_IMPLEMENTATION", "tornado")
    with pytest.raises(SettingsError, match="ORPHEUS_WS_IMPLEMENTATION"):
        OrpheusSettings.load()


@asynccontextmanager
async def accepted_paced_socket() -> AsyncIterator[PacedWebSocketsProtocol]:
    """A PacedWebSocketsProtocol past the handshake, for an app that accepts, then reads
    nothing itself: what the test does not `receive()` stays in uvicorn's queue."""
    accepted = asyncio.Event()

    async def accept_and_hold(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        await asyncio.Event().wait()

    config = uvicorn.Config(accept_and_hold, lifespan="off", ws_max_size=1 << 20)
    config.load()
    state = ServerState()
    protocol = PacedWebSocketsProtocol(config, state, {})
    server_sock, client_sock = socket.socketpair()
    loop = asyncio.get_running_loop()
    await loop.connect_accepted_socket(lambda: protocol, server_sock)
    try:
        protocol.data_received(HANDSHAKE)
        await asyncio.wait_for(accepted.wait(), 5)
        yield protocol
    finally:
        protocol.transport.close()
        client_sock.close()
        for task in state.tasks:
            task.cancel()
        await asyncio.sleep(0.01)


async def test_a_read_of_many_small_frames_is_parsed_a_little_per_loop_turn() -> None:
    async with accepted_paced_socket() as protocol:
        frame = Frame(Opcode.TEXT, b"word").serialize(mask=True, extensions=[])
        count = 4 * FEED_BYTES // len(frame)

        protocol.data_received(frame * count)  # one socket read of `count` frames

        assert 0 < protocol.queue.qsize() <= FEED_BYTES // len(frame) + 1
        texts: list[str] = []
        while len(texts) < count:
            message = await asyncio.wait_for(protocol.receive(), 5)
            texts.append(message["text"])  # pyright: ignore[reportTypedDictNotRequiredAccess]
            assert protocol.queue.qsize() <= FEED_BYTES // len(frame) + 1
        assert texts == ["word"] * count


async def test_frames_are_parsed_no_faster_than_the_app_takes_them() -> None:
    async with accepted_paced_socket() as protocol:
        frame = Frame(Opcode.TEXT, b"word").serialize(mask=True, extensions=[])
        protocol.data_received(frame * (4 * FEED_BYTES // len(frame)))
        parsed = protocol.queue.qsize()

        for _ in range(20):  # the app takes nothing
            await asyncio.sleep(0)

        assert protocol.queue.qsize() == parsed


@pytest.mark.parametrize(
    ("setting", "negotiated"),
    [(False, None), (True, "permessage-deflate")],
)
async def test_websocket_compression_is_offered_only_when_configured(
    setting: bool, negotiated: str | None
) -> None:
    app = FastAPI()
    app.state.settings = service_settings(ws_per_message_deflate=setting)

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:  # pyright: ignore[reportUnusedFunction]
        await websocket.accept()
        await websocket.close()

    server = ServerThread(app).start()
    try:
        async with websockets.connect(server.ws + "/ws", compression="deflate") as ws:
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (extensions.split(";")[0] if extensions else None) == negotiated
    finally:
        server.stop()


async def test_a_close_behind_unparsed_frames_is_the_apps_next_message() -> None:
    async with accepted_paced_socket() as protocol:
        frame = Frame(Opcode.TEXT, b"word").serialize(mask=True, extensions=[])
        close = Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True, extensions=[])
        protocol.data_received(frame * (4 * FEED_BYTES // len(frame)) + close)

        message = await asyncio.wait_for(protocol.receive(), 5)

        assert message == {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        assert protocol.transport.is_closing()  # the close reply is sent, the socket closing


async def test_data_frames_split_across_reads_are_parsed_whole() -> None:
    async with accepted_paced_socket() as protocol:
        frames = b"".join(
            Frame(Opcode.TEXT, f"word{i}".encode()).serialize(mask=True, extensions=[])
            for i in range(50)
        )
        for start in range(0, len(frames), 7):  # reads that cut headers and payloads
            protocol.data_received(frames[start : start + 7])
        texts = [(await asyncio.wait_for(protocol.receive(), 5))["text"] for _ in range(50)]  # pyright: ignore[reportTypedDictNotRequiredAccess]
        assert texts == [f"word{i}" for i in range(50)]
