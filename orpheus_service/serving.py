"""How uvicorn serves the app: the options `unmute-tts serve`, the tests' server and the
benchmarks share, and a paced WebSocket protocol.

uvicorn's sans-I/O WebSocket implementations (`websockets-sansio`, `wsproto`) parse
every frame of one socket read (up to 256 KB) in one callback before the app sees any
of them: a client sending thousands of one-word frames holds the event loop for half a
second. `PacedWebSocketsProtocol` (ORPHEUS_WS_IMPLEMENTATION=websockets-sansio-paced)
is `websockets-sansio` fed at most FEED_BYTES per turn of the loop, reading paused
while a backlog remains, and fed no more while the app has parsed messages still to
take: how fast the app reads (routes_unmute paces it) is how fast frames are parsed. A
connection still open CLOSE_LINGER_S after its app returned (a peer that reads nothing
keeps the close frame queued behind the audio) is cut, and the kernel buffers at most
SEND_BUFFER_BYTES for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
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
CLOSE_LINGER_S = 5.0
"""How long PacedWebSocketsProtocol lets a connection whose app has returned flush what
it still has to send (the close handshake included) before cutting it."""


class PacedWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio`, parsing at most FEED_BYTES per turn of the loop, and
    the next FEED_BYTES only once the app has taken every message parsed before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backlog = bytearray()
        self._feeding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Bound the kernel's send buffer (SEND_BUFFER_BYTES), then as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        super().connection_made(transport)  # pyright: ignore[reportArgumentType]

    def data_received(self, data: bytes) -> None:
        """Queue `data`; parse its first FEED_BYTES now unless the app is behind."""
        self._backlog += data
        if not self._feeding and not self.read_paused:
            self._feed()

    def _feed(self) -> None:
        self._feeding = False
        if self.disconnected or not self._backlog:
            return
        chunk = bytes(self._backlog[:FEED_BYTES])
        del self._backlog[:FEED_BYTES]
        super().data_received(chunk)
        if self.transport.is_closing():
            return
        if self._backlog:
            self.transport.pause_reading()  # bound the backlog to one read
            if not self.read_paused:  # nothing waits for the app: go on next turn
                self._schedule_feed()
            # else `receive` goes on once the app has taken what waits for it
        elif not self.read_paused:
            self.transport.resume_reading()

    def _schedule_feed(self) -> None:
        self._feeding = True
        self.loop.call_soon(self._feed)

    async def receive(self) -> Any:
        """The app's next message; once it has taken them all, parse more of the backlog."""
        message = await super().receive()  # resumes reading once the queue is empty
        if self._backlog and not self.transport.is_closing():
            self.transport.pause_reading()
            if self.queue.empty() and not self._feeding:
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
        """The peer is gone: what it sent and was not parsed yet can never be answered."""
        self._backlog.clear()
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
