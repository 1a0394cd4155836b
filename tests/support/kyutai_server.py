"""A local stand-in for Kyutai's TTS server (moshi-server's `/api/tts_streaming`).

It speaks the protocol unmute's own client (`unmute/tts/text_to_speech.py`) and the
`kyutai` backend use, as moshi-server does:

- WebSocket `/api/tts_streaming`, the key in the `kyutai-api-key` header (or the
  `auth_id` query parameter); a wrong key is refused with HTTP 401 before the upgrade,
  another path with 404. Query: `format` (only `PcmMessagePack` is spoken here; others
  get an `Error`), `voice`, `cfg_alpha`, ... (all recorded).
- Every frame is a msgpack map. Server to client: `Ready` first; for each word of
  each `Text` the client sends, a `Text{text, start_s, stop_s}` word timestamp, then
  its audio as `Audio{pcm}` frames of 1920 float32 samples (80 ms of a 24 kHz tone,
  never silent); the empty `Text("", 0, 0)` the real server always sends comes
  before the first word. After `Eos` it finishes the words, then closes normally.
- Capacity: past `max_sessions` concurrent sessions it sends `Error` "no free
  channels" and closes, as moshi-server does when every batch slot is busy.

Pacing: `speed=None` sends as fast as possible; `speed=1.0` sends audio in real time
(each 80 ms frame 80 ms after the previous one, bursts after a pause in the text
allowed), `2.0` twice as fast. `ready_delay_s` delays `Ready` (a slow start): seconds,
or a function of the connection's index (0 for the first) giving them.

Everything a client did is recorded per connection (`KyutaiConnection`): path,
query, headers, the decoded messages, `Voice` messages, what was sent back, and when
and how the connection closed.

Use: `with KyutaiTTSServer() as server: ... server.url ...` (the server runs on its
own thread and loop, so sync and async tests both use it), or the pytest fixtures in
`tests/support/kyutai_fixtures.py`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import msgpack
import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PATH = "/api/tts_streaming"
SAMPLE_RATE = 24000
FRAME_SAMPLES = 1920
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
DEFAULT_API_KEY = "public_token"
NO_FREE_CHANNELS = "no free channels"


def frames_for_word(word: str) -> int:
    """Default word length in 80 ms frames: 2 frames, plus one per 4 characters."""
    return 2 + len(word) // 4


def pack(message: dict[str, Any]) -> bytes:
    """Encode one frame as moshi-server does (floats as msgpack float32)."""
    data: bytes = msgpack.packb(message, use_single_float=True)  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    return data


@dataclass
class KyutaiConnection:
    """What one client did on the stand-in, and what it got back."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    index: int
    """Its position among the server's connections (0 for the first)."""
    messages: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Client messages, decoded, in order (`Text`, `Voice`, `Eos`, ...)."""
    sent: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Server messages, `Audio` ones with their pcm replaced by its length."""
    refused: bool = False
    """Sent `Error` instead of `Ready` (at capacity, or an unsupported format)."""
    close_code: int | None = None
    closed_by: str | None = None
    """`"client"` or `"server"`: who closed first."""
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def texts(self) -> list[str]:
        """The text of every client `Text` message."""
        return [str(m.get("text")) for m in self.messages if m.get("type") == "Text"]

    @property
    def voice_messages(self) -> list[dict[str, Any]]:
        """The client's `Voice` messages (custom voice embeddings)."""
        return [m for m in self.messages if m.get("type") == "Voice"]

    @property
    def got_eos(self) -> bool:
        """Whether the client sent `Eos`."""
        return any(m.get("type") == "Eos" for m in self.messages)

    @property
    def words_sent(self) -> list[str]:
        """The words of the non-empty `Text` timestamps sent back, in order."""
        return [m["text"] for m in self.sent if m["type"] == "Text" and m["text"]]

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Block until the connection is closed (or `timeout`); True when closed."""
        return self.closed.wait(timeout)


class KyutaiTTSServer:
    """The stand-in server on 127.0.0.1, a free port, its own thread and event loop."""

    def __init__(
        self,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        max_sessions: int | None = None,
        speed: float | None = None,
        ready_delay_s: float | Callable[[int], float] = 0.0,
        frames_per_word: Callable[[str], int] = frames_for_word,
        tone_hz: float = 220.0,
    ) -> None:
        self.api_key = api_key
        self.max_sessions = max_sessions
        self.speed = speed
        self.ready_delay_s = ready_delay_s
        self.frames_per_word = frames_per_word
        self.tone_hz = tone_hz
        self.connections: list[KyutaiConnection] = []
        self.rejected_requests: list[tuple[str, int]] = []
        """(path, HTTP status) of requests refused before the upgrade."""
        self.port = 0
        self._active = 0
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kyutai-stand-in", daemon=True)

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:PORT`, the form of unmute's `KYUTAI_TTS_URL`."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def active_sessions(self) -> int:
        """Connections open right now."""
        return self._active

    def start(self) -> Self:
        """Start listening; returns once the port is bound."""
        self._thread.start()
        if not self._started.wait(10) or self._error is not None:
            raise RuntimeError(f"Kyutai stand-in did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Close every connection and stop the server thread."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def wait_all_closed(self, timeout: float = 5.0) -> bool:
        """Block until every connection so far is closed; True when they are."""
        deadline = time.monotonic() + timeout
        return all(c.wait_closed(max(0.0, deadline - time.monotonic())) for c in self.connections)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- server thread -------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(
            self._session, "127.0.0.1", 0, process_request=self._check_request
        ) as server:
            self._server = server
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._started.set()
            await self._stop.wait()
            server.close(close_connections=True)
            await server.wait_closed()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parsed = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        if parsed.path != PATH:
            self.rejected_requests.append((request.path, 404))
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        key = request.headers.get("kyutai-api-key") or query.get("auth_id")
        if self.api_key is not None and key != self.api_key:
            self.rejected_requests.append((request.path, 401))
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    async def _session(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        parsed = urllib.parse.urlsplit(request.path)
        record = KyutaiConnection(
            path=parsed.path,
            query=dict(urllib.parse.parse_qsl(parsed.query)),
            headers={k.lower(): v for k, v in request.headers.raw_items()},
            index=len(self.connections),
        )
        self.connections.append(record)
        self._active += 1
        try:
            await self._speak(ws, record)
        except ConnectionClosed:
            pass
        finally:
            self._active -= 1
            await ws.wait_closed()
            record.close_code = ws.close_code
            if record.closed_by is None:
                record.closed_by = "client"
            record.closed.set()

    async def _send(
        self, ws: ServerConnection, record: KyutaiConnection, msg: dict[str, Any]
    ) -> None:
        await ws.send(pack(msg))
        if msg["type"] == "Audio":
            msg = {"type": "Audio", "samples": len(msg["pcm"])}
        record.sent.append(msg)

    async def _refuse(self, ws: ServerConnection, record: KyutaiConnection, message: str) -> None:
        record.refused = True
        await self._send(ws, record, {"type": "Error", "message": message})
        record.closed_by = "server"
        await ws.close()

    async def _speak(self, ws: ServerConnection, record: KyutaiConnection) -> None:
        if self.max_sessions is not None and self._active > self.max_sessions:
            await self._refuse(ws, record, NO_FREE_CHANNELS)
            return
        if record.query.get("format", "OggOpus") != "PcmMessagePack":
            await self._refuse(ws, record, "the stand-in speaks only format=PcmMessagePack")
            return
        words: asyncio.Queue[str | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(ws, record, words))
        try:
            delay = self.ready_delay_s
            if callable(delay):
                delay = delay(record.index)
            if delay:
                await asyncio.sleep(delay)
            await self._send(ws, record, {"type": "Ready"})
            await self._generate(ws, record, words)
            record.closed_by = record.closed_by or "server"
            await ws.close()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(
        self, ws: ServerConnection, record: KyutaiConnection, words: asyncio.Queue[str | None]
    ) -> None:
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    record.messages.append({"type": "<text frame>", "text": frame})
                    continue
                message: dict[str, Any] = msgpack.unpackb(frame)
                record.messages.append(message)
                if message.get("type") == "Text":
                    for word in str(message.get("text", "")).split():
                        words.put_nowait(word)
                elif message.get("type") == "Eos":
                    words.put_nowait(None)
        except ConnectionClosed:
            pass
        if record.closed_by is None:
            record.closed_by = "client"
        words.put_nowait(None)

    async def _generate(
        self, ws: ServerConnection, record: KyutaiConnection, words: asyncio.Queue[str | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        produced = 0  # samples
        next_send = 0.0
        sent_empty = False
        while (word := await words.get()) is not None:
            if not sent_empty:
                await self._send(
                    ws, record, {"type": "Text", "text": "", "start_s": 0.0, "stop_s": 0.0}
                )
                sent_empty = True
            n_frames = max(1, self.frames_per_word(word))
            start_s = produced / SAMPLE_RATE
            stop_s = (produced + n_frames * FRAME_SAMPLES) / SAMPLE_RATE
            await self._send(
                ws, record, {"type": "Text", "text": word, "start_s": start_s, "stop_s": stop_s}
            )
            for _ in range(n_frames):
                if self.speed is not None:
                    next_send = max(next_send, loop.time())
                    await asyncio.sleep(next_send - loop.time())
                    next_send += FRAME_S / self.speed
                await self._send(
                    ws, record, {"type": "Audio", "pcm": self._tone(produced).tolist()}
                )
                produced += FRAME_SAMPLES

    def _tone(self, start: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        t = (np.arange(FRAME_SAMPLES) + start) / SAMPLE_RATE
        return (0.3 * np.sin(2 * math.pi * self.tone_hz * t)).astype(np.float32)
