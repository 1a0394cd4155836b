"""A stand-in OpenAI-compatible speech server (FastAPI under uvicorn, 127.0.0.1, free port).

Each word of the input is spoken as a 0.25 s tone (its pitch grows with the word's
index, so tests can tell the words apart). Options shape the answer the way the real
servers do: raw PCM at any rate (optionally announced as `audio/pcm;rate=...`), a
streamed WAV (sizes 0xFFFFFFFF) or a whole one, OpenAI's SSE events, Kokoro's
captioned NDJSON; and the failures: a list of statuses to answer first (429 then
200), a fixed error status with OpenAI's error body, a stall or a dropped connection
after some audio. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.support.service_support import ServerThread

WORD_S = 0.25
CHUNK_S = 0.02


class DroppedConnection(Exception):
    """Raised inside the body stream: uvicorn then cuts the connection."""


@dataclass
class Recorded:
    """One request the stand-in received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class OpenAISpeechServer:
    """Options of the stand-in; `start()` runs it."""

    rate: int = 24000
    wav: bool = False
    """Answer a WAV (header, then data) whatever format was asked."""
    streamed_wav: bool = True
    """A streamed WAV's sizes are 0xFFFFFFFF; False: the real sizes."""
    announce_rate: bool = True
    """Put `;rate=N` in a raw PCM answer's content type."""
    realtime: float | None = None
    """Send audio at this multiple of real time (None: as fast as possible)."""
    packet_s: float = CHUNK_S
    """Audio per chunk of the answer's body."""
    statuses_first: list[int] = field(default_factory=lambda: list[int]())
    """Statuses to answer (with an OpenAI error body) before answering normally."""
    stall_after_s: float | None = None
    """Stop sending (but keep the connection open) after this much audio."""
    drop_after_s: float | None = None
    """Cut the connection after this much audio."""
    latency_s: float = 0.0
    """Wait this long before the first byte of each answer."""
    voices_answer: Any = None
    first_byte_at: list[float] = field(default_factory=lambda: list[float]())
    """`time.perf_counter()` when each answer's first byte was handed to uvicorn."""
    max_concurrent: int = 0
    """The most answers that were being sent at once."""
    _active: int = 0
    requests: list[Recorded] = field(default_factory=lambda: list[Recorded]())
    _thread: ServerThread | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the base URL a client is given."""
        assert self._thread is not None
        return f"{self._thread.http}/v1"

    def start(self) -> OpenAISpeechServer:
        """Run the server in its own thread."""
        self._thread = ServerThread(self._app()).start()
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self._thread is not None:
            self._thread.stop()

    def tone(self, words: list[str]) -> np.ndarray[Any, np.dtype[np.int16]]:
        """The 16-bit samples the stand-in speaks for `words`."""
        n = round(WORD_S * self.rate)
        t = np.arange(n) / self.rate
        parts = [0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) for i in range(len(words))]
        pcm = np.concatenate(parts) if parts else np.zeros(0)
        return (pcm * 32767).astype(np.int16)

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/audio/speech")
        async def speech(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
            return await self._answer(request, captioned=False)

        @app.post("/dev/captioned_speech")
        async def captioned(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
            return await self._answer(request, captioned=True)

        @app.get("/v1/audio/voices")
        async def voices() -> Response:  # pyright: ignore[reportUnusedFunction]
            if self.voices_answer is None:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            return JSONResponse(self.voices_answer)

        return app

    async def _answer(self, request: Request, *, captioned: bool) -> Response:
        body: dict[str, Any] = json.loads(await request.body())
        self.requests.append(Recorded(request.url.path, body, dict(request.headers)))
        if self.statuses_first:
            status = self.statuses_first.pop(0)
            error = {"message": f"stand-in says {status}", "type": "error", "code": status}
            return JSONResponse({"error": error}, status_code=status)
        words = str(body["input"]).split()
        pcm = self.tone(words)
        if captioned:
            return StreamingResponse(self._captioned(words, pcm), media_type="application/x-ndjson")
        sse = body.get("stream_format") == "sse"
        if self.wav:
            data = _wav_header(self.rate, None if self.streamed_wav else len(pcm) * 2)
            return self._stream(data, pcm, sse, "audio/wav")
        rate = f";rate={self.rate}" if self.announce_rate else ""
        return self._stream(b"", pcm, sse, f"audio/pcm{rate}")

    def _stream(self, head: bytes, pcm: Any, sse: bool, media: str) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            try:
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                first = True
                if head:
                    self.first_byte_at.append(time.perf_counter())
                    first = False
                    yield _sse_delta(head) if sse else head
                async for chunk in self._paced(pcm):
                    if first:
                        self.first_byte_at.append(time.perf_counter())
                        first = False
                    yield _sse_delta(chunk) if sse else chunk
                if sse:
                    yield b'data: {"type":"speech.audio.done"}\n\n'
            finally:
                self._active -= 1

        return StreamingResponse(chunks(), media_type="text/event-stream" if sse else media)

    async def _captioned(self, words: list[str], pcm: Any) -> AsyncIterator[bytes]:
        per_word = round(WORD_S * self.rate)
        for index, word in enumerate(words):
            if index == 0:
                self.first_byte_at.append(time.perf_counter())
            audio = pcm[index * per_word : (index + 1) * per_word].tobytes()
            stamp = {"word": word, "start_time": index * WORD_S, "end_time": (index + 1) * WORD_S}
            line = {"audio": base64.b64encode(audio).decode(), "audio_format": "pcm"}
            yield (json.dumps({**line, "timestamps": [stamp]}) + "\n").encode()

    async def _paced(self, pcm: Any) -> AsyncIterator[bytes]:
        step = round(self.packet_s * self.rate)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for start in range(0, len(pcm), step):
            sent_s = start / self.rate
            if self.stall_after_s is not None and sent_s >= self.stall_after_s:
                await asyncio.Event().wait()  # never set: the client must give up
            if self.drop_after_s is not None and sent_s >= self.drop_after_s:
                raise DroppedConnection()
            if self.realtime is not None:
                await asyncio.sleep(max(0.0, begin + sent_s / self.realtime - loop.time()))
            yield pcm[start : start + step].tobytes()


def _sse_delta(data: bytes) -> bytes:
    event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
    return f"data: {json.dumps(event)}\n\n".encode()


def _wav_header(rate: int, data_bytes: int | None) -> bytes:
    size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", size))
    )
