"""How uvicorn serves the app: the options `unmute-tts serve`, the tests' server and the
benchmarks share, and a paced WebSocket protocol.

uvicorn's sans-I/O WebSocket implementations (`websockets-sansio`, `wsproto`) parse
every frame of one socket read (up to 256 KB) in one callback before the app sees any
of them: a client sending thousands of one-word frames holds the event loop for half a
second. `PacedWebSocketsProtocol` (ORPHEUS_WS_IMPLEMENTATION=websockets-sansio-paced)
is `websockets-sansio` that cuts what it reads into whole frames (reading only their
headers) and feeds the parser at most FEED_BYTES of data frames per turn of the loop,
and no more while the app has parsed messages still to take: how fast the app reads
(api.routes.unmute paces it) is how fast data frames are parsed. Control frames are parsed
as soon as they arrive, ahead of the data frames still waiting: a ping is answered at
once and a close is honoured at once (the close reply sent, the app's next message the
disconnect, the unread data dropped), as is a dropped connection. Up to BACKLOG_BYTES
of data frames wait unparsed while the socket is still read (so a close behind them is
seen); past that, reading pauses until the app catches up. A connection still open
CLOSE_LINGER_S after its app returned (a peer that reads nothing keeps the close frame
queued behind the audio) is cut, and the kernel buffers at most SEND_BUFFER_BYTES for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

if TYPE_CHECKING:
    from orpheus_service.settings import OrpheusSettings

WS_MAX_SIZE = 16 * 1024 * 1024
"""Largest WebSocket message uvicorn accepts; the app's own limits are far smaller."""
FEED_BYTES = 4096
"""Bytes PacedWebSocketsProtocol parses per turn of the event loop."""
SEND_BUFFER_BYTES = 128 * 1024
"""The kernel's send buffer of a WebSocket connection (SO_SNDBUF; Linux doubles it):
~2.7 s of float32 audio. Left to autotuning, loopback grows it to megabytes: a client
that reads nothing would have ~40 s generated for it before a send ever blocks and
ORPHEUS_SESSION_IDLE_TIMEOUT_S starts counting."""
BACKLOG_BYTES = 256 * 1024
"""Data frames PacedWebSocketsProtocol holds unparsed before it stops reading the socket:
some 8,000 one-word msgpack frames, a long text sent word by word. A close behind more
than this is seen once the app has read its way to it."""
MAX_HEADER_BYTES = 14
"""The longest WebSocket frame header: 2 bytes, an 8-byte length, a 4-byte mask."""
MAX_CONTROL_FRAME_BYTES = 2 + 4 + 125
"""The longest valid control frame from a client (masked, 125 bytes of payload)."""
CONTROL_BIT = 0x8
"""Set in the opcode of every control frame (close 0x8, ping 0x9, pong 0xA)."""
CLOSE_LINGER_S = 5.0
"""How long PacedWebSocketsProtocol lets a connection whose app has returned flush what
it still has to send (the close handshake included) before cutting it."""


def frame_header(data: bytes | bytearray) -> tuple[int, int] | None:
    """(opcode, whole size in bytes) of the WebSocket frame `data` starts with; None while
    its header is incomplete."""
    if len(data) < 2:
        return None
    opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = int.from_bytes(data[2:10], "big"), 10
    if data[1] & 0x80:  # masked, as every client frame must be
        offset += 4
    return opcode, offset + length


class PacedWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio`, parsing at most FEED_BYTES of data frames per turn of
    the loop, and the next ones only once the app has taken every message parsed before;
    control frames (close, ping, pong) are parsed as soon as they arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tail = bytearray()  # received, not yet cut into whole frames
        self._frames: deque[bytes] = deque()  # whole data frames the parser has not seen
        self._frames_bytes = 0
        self._in_order = False  # a frame no cut can trust: pass every byte on in order
        self._feeding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Bound the kernel's send buffer (SEND_BUFFER_BYTES), then as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        super().connection_made(transport)  # pyright: ignore[reportArgumentType]

    def data_received(self, data: bytes) -> None:
        """Cut `data` into frames: control frames are parsed now, data frames queued and
        the first FEED_BYTES of them parsed now unless the app is behind."""
        if self.disconnected or self.transport.is_closing():
            return
        self._tail += data
        if not self.handshake_initiated:
            self._parse_request()
            if not self.handshake_initiated or self.transport.is_closing():
                return
        self._cut_frames()
        if self.transport.is_closing():
            return
        self._sync_reading()
        if not self._feeding and self.queue.empty():
            self._feed()

    def _parse_request(self) -> None:
        """Parse the HTTP request up to its blank line, not a byte of the frames after it."""
        end = self._tail.find(b"\r\n\r\n")
        size = end + 4 if end >= 0 else max(0, len(self._tail) - 3)
        if size:
            request = bytes(self._tail[:size])
            del self._tail[:size]
            super().data_received(request)

    def _cut_frames(self) -> None:
        while not self._in_order:
            header = frame_header(self._tail)
            if header is None:
                return
            opcode, size = header
            if size > self.config.ws_max_size + MAX_HEADER_BYTES or (
                opcode & CONTROL_BIT and size > MAX_CONTROL_FRAME_BYTES
            ):
                self._in_order = True  # the parser refuses it when it gets there
                break
            if len(self._tail) < size:
                return
            frame = bytes(self._tail[:size])
            del self._tail[:size]
            if opcode & CONTROL_BIT:
                self._parse_control_frame(frame)
                if self.transport.is_closing():
                    return
            elif not self.close_sent:  # past its own close, uvicorn drops data anyway
                self._frames.append(frame)
                self._frames_bytes += size
        if self._tail:
            self._frames.append(bytes(self._tail))
            self._frames_bytes += len(self._tail)
            self._tail.clear()

    def _parse_control_frame(self, frame: bytes) -> None:
        """Parse a control frame ahead of the data frames still waiting (RFC 6455 lets
        control frames come between any two frames): a ping is answered, a pong counted,
        and a close honoured at once: what the client sent before it is never read."""
        super().data_received(frame)
        if self.conn.close_rcvd is not None or self.transport.is_closing():
            self._drop_unread()

    def _drop_unread(self) -> None:
        """Forget the data the app has not read: its next message is the disconnect."""
        self._tail.clear()
        self._frames.clear()
        self._frames_bytes = 0
        kept: list[Any] = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message["type"] != "websocket.receive":
                kept.append(message)
        for message in kept:
            self.queue.put_nowait(message)

    def _feed(self) -> None:
        self._feeding = False
        if self.disconnected or self.transport.is_closing() or not self._frames:
            return
        chunk: list[bytes] = []
        budget = FEED_BYTES
        while self._frames and budget > 0:
            frame = self._frames.popleft()
            self._frames_bytes -= len(frame)
            budget -= len(frame)
            chunk.append(frame)
        super().data_received(b"".join(chunk))
        if self.transport.is_closing():
            return
        self._sync_reading()
        if self._frames and self.queue.empty():  # nothing waits for the app: go on next turn
            self._schedule_feed()
        # else `receive` goes on once the app has taken what waits for it

    def _sync_reading(self) -> None:
        """Read from the socket while less than BACKLOG_BYTES of frames wait (a close
        behind them is seen at once), or once the app has sent its close."""
        if self.transport.is_closing():
            return
        if self._frames_bytes >= BACKLOG_BYTES and not self.close_sent:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _schedule_feed(self) -> None:
        self._feeding = True
        self.loop.call_soon(self._feed)

    async def receive(self) -> Any:
        """The app's next message; once it has taken them all, parse more of the backlog."""
        message = await super().receive()
        self._sync_reading()
        if self._frames and self.queue.empty() and not self._feeding:
            self._schedule_feed()
        return message

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        """The app has returned: cut the connection if it is still open CLOSE_LINGER_S on.

        uvicorn closes the transport, which waits until everything buffered is sent:
        forever, with its memory, for a peer that reads nothing.
        """
        super().on_task_complete(task)
        self.loop.call_later(CLOSE_LINGER_S, self._cut)

    def _cut(self) -> None:
        if not self.disconnected:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer is gone: what it sent and the app has not read can never be answered."""
        self._drop_unread()
        super().connection_lost(exc)


WS_IMPLEMENTATIONS: dict[str, str | type[asyncio.Protocol]] = {
    "websockets-sansio-paced": PacedWebSocketsProtocol,
    "websockets-sansio": "websockets-sansio",
    "wsproto": "wsproto",
    "websockets": "websockets",
}
"""ORPHEUS_WS_IMPLEMENTATION's values -> uvicorn's `ws` option."""


def uvicorn_options(settings: OrpheusSettings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that `settings` decide."""
    return {
        "ws": WS_IMPLEMENTATIONS[settings.ws_implementation],
        "ws_max_size": WS_MAX_SIZE,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
    }
