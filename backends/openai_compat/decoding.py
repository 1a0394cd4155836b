"""Audio bytes of a speech answer in, float32 mono pieces (at the answer's rate) out.

Raw PCM (16-bit little-endian, at a rate from the content type, a setting or 24 kHz),
WAV (the header is read, then the data streams; a streamed WAV's sizes may be 0 or
0xFFFFFFFF, meaning "until the end") and, when a server gives nothing else, mp3, Ogg
opus, flac or aac decoded by PyAV in a worker thread as the bytes arrive. A body that
starts with `RIFF` is read as WAV whatever was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import struct
import threading
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from unmute.tts.base import BackendError
from unmute.tts.extras import require_extra
from unmute.tts.protocol import SAMPLE_RATE, FloatArray

EXTRA: Final = "openai"
UNBOUNDED: Final = frozenset({0, 0xFFFFFFFF})
"""WAV sizes a streaming writer puts in the header: the data runs to the end."""
CONTAINERS: Final = {"mp3": "mp3", "opus": "ogg", "flac": "flac", "aac": "aac"}
"""Response format -> PyAV (FFmpeg) container name."""
MEDIA_FORMATS: Final = {
    "audio/pcm": "pcm",
    "audio/l16": "pcm",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "opus",
    "audio/opus": "opus",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/aac": "aac",
}
"""Content type -> response format."""


class AudioFormatError(BackendError):
    """The server's audio cannot be read."""


@dataclass(frozen=True)
class AudioPiece:
    """Decoded audio: float32 mono at `sample_rate`."""

    pcm: FloatArray
    sample_rate: int


class AudioDecoder(Protocol):
    """Bytes of one answer in, audio pieces out."""

    async def feed(self, data: bytes) -> list[AudioPiece]: ...

    async def finish(self) -> list[AudioPiece]: ...

    def close(self) -> None: ...


def format_of(content_type: str | None) -> tuple[str | None, int | None]:
    """(response format, rate) a content type states, e.g. `audio/pcm;rate=22050`."""
    if not content_type:
        return None, None
    media, *params = (part.strip() for part in content_type.split(";"))
    rate: int | None = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() in ("rate", "samplerate", "sample_rate"):
            with contextlib.suppress(ValueError):
                rate = int(value.strip().strip('"'))
    return MEDIA_FORMATS.get(media.lower()), rate


class PcmDecoder:
    """Raw 16-bit little-endian mono PCM."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._carry = b""

    async def feed(self, data: bytes) -> list[AudioPiece]:
        data = self._carry + data
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        if not usable:
            return []
        pcm = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / np.float32(32768.0)
        return [AudioPiece(pcm, self.sample_rate)]

    async def finish(self) -> list[AudioPiece]:
        self._carry = b""
        return []

    def close(self) -> None:
        self._carry = b""


_SAMPLE_TYPES: Final = {(1, 1): "u1", (1, 2): "<i2", (1, 4): "<i4", (3, 4): "<f4", (3, 8): "<f8"}


class WavDecoder:
    """A RIFF/WAVE stream: integer or float samples, any channel count (mixed to mono)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._header_done = False
        self._remaining: int | None = None
        """Data bytes still expected (None: until the end)."""
        self.sample_rate = 0
        self._channels = 1
        self._width = 2
        self._dtype = "<i2"

    async def feed(self, data: bytes) -> list[AudioPiece]:
        self._buffer += data
        if not self._header_done and not self._parse_header():
            return []
        return self._samples()

    async def finish(self) -> list[AudioPiece]:
        if not self._header_done and self._buffer:
            raise AudioFormatError("the WAV answer ended inside its header")
        return []

    def close(self) -> None:
        self._buffer = b""

    def _parse_header(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 12:
            return False
        if buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE":
            raise AudioFormatError("the answer is not a WAV file (no RIFF/WAVE header)")
        position, found_format = 12, False
        while len(buffer) >= position + 8:
            chunk = buffer[position : position + 4]
            size: int = struct.unpack_from("<I", buffer, position + 4)[0]
            body = position + 8
            if chunk == b"data":
                if not found_format:
                    raise AudioFormatError("the WAV answer has no fmt chunk before its data")
                self._remaining = None if size in UNBOUNDED else size
                self._buffer = buffer[body:]
                self._header_done = True
                return True
            if len(buffer) < body + size:
                return False
            if chunk == b"fmt ":
                self._read_format(buffer[body : body + size])
                found_format = True
            position = body + size + size % 2
        return False

    def _read_format(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise AudioFormatError("the WAV answer's fmt chunk is too short")
        tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
        if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat's tag
            tag = struct.unpack_from("<H", fmt, 24)[0]
        width = bits // 8
        dtype = _SAMPLE_TYPES.get((tag, width))
        if dtype is None and tag == 1 and width == 3:
            dtype = "i3"
        if dtype is None or channels < 1 or rate < 1:
            raise AudioFormatError(
                f"unsupported WAV audio: format {tag}, {bits} bits, {channels} channels, {rate} Hz"
            )
        self.sample_rate, self._channels, self._width, self._dtype = rate, channels, width, dtype

    def _samples(self) -> list[AudioPiece]:
        frame = self._width * self._channels
        take = len(self._buffer) - len(self._buffer) % frame
        if self._remaining is not None:
            take = min(take, self._remaining - self._remaining % frame)
            self._remaining -= take
        if take <= 0:
            return []
        raw, self._buffer = self._buffer[:take], self._buffer[take:]
        if self._remaining == 0:
            self._buffer = b""  # chunks after the data (LIST...) are not audio
        pcm = self._convert(raw).reshape(-1, self._channels).mean(axis=1, dtype=np.float32)
        return [AudioPiece(np.ascontiguousarray(pcm, dtype=np.float32), self.sample_rate)]

    def _convert(self, raw: bytes) -> FloatArray:
        if self._dtype == "u1":
            return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
        if self._dtype == "i3":
            b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            value = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
            return value.astype(np.float32) / np.float32(2**23)
        samples = np.frombuffer(raw, dtype=self._dtype)
        if samples.dtype.kind == "f":
            return samples.astype(np.float32)
        scale = float(2 ** (8 * self._width - 1))
        return samples.astype(np.float32) / np.float32(scale)


class _BlockingReader(io.RawIOBase):
    """A file PyAV reads in its thread; bytes come from the event loop through a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: queue.Queue[bytes | None] = queue.Queue()
        self._pending = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._ended:
            chunk = self.chunks.get()
            if chunk is None:
                self._ended = True
            else:
                self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class CompressedDecoder:
    """mp3, Ogg opus, flac or aac, decoded by PyAV in a worker thread as bytes arrive
    (pieces come out at 24 kHz)."""

    def __init__(self, response_format: str) -> None:
        self._av: Any = require_extra("av", EXTRA, feature=f"decoding {response_format} audio")
        self._container = CONTAINERS[response_format]
        self._reader = _BlockingReader()
        self._lock = threading.Lock()
        self._decoded: list[AudioPiece] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="openai-tts-decode", daemon=True)
        self._thread.start()

    async def feed(self, data: bytes) -> list[AudioPiece]:
        self._reader.chunks.put(data)
        return self._take()

    async def finish(self) -> list[AudioPiece]:
        self._reader.chunks.put(None)
        await asyncio.to_thread(self._thread.join)
        return self._take()

    def close(self) -> None:
        self._reader.chunks.put(None)

    def _take(self) -> list[AudioPiece]:
        with self._lock:
            if self._error is not None:
                raise AudioFormatError(f"cannot decode the {self._container} answer: {self._error}")
            pieces, self._decoded = self._decoded, []
        return pieces

    def _run(self) -> None:
        av = self._av
        try:
            with av.open(self._reader, mode="r", format=self._container) as container:
                resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                for frame in container.decode(audio=0):
                    self._keep(resampler.resample(frame))
                self._keep(resampler.resample(None))
        except Exception as exc:
            with self._lock:
                self._error = exc

    def _keep(self, frames: list[Any]) -> None:
        for frame in frames:
            pcm = np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)
            if len(pcm):
                with self._lock:
                    self._decoded.append(AudioPiece(pcm, SAMPLE_RATE))


class SniffingDecoder:
    """Chooses the decoder from the first bytes: WAV when they read `RIFF`, else the
    format the content type or the request named."""

    def __init__(self, response_format: str, pcm_rate: int) -> None:
        self._format = response_format
        self._pcm_rate = pcm_rate
        self._head = b""
        self._decoder: AudioDecoder | None = None

    async def feed(self, data: bytes) -> list[AudioPiece]:
        if self._decoder is None:
            self._head += data
            if len(self._head) < 4:
                return []
            data, self._head = self._head, b""
            self._decoder = self._choose(data[:4])
        return await self._decoder.feed(data)

    async def finish(self) -> list[AudioPiece]:
        if self._decoder is None:
            if not self._head:
                return []
            self._decoder = self._choose(self._head)
            pieces = await self._decoder.feed(self._head)
            return pieces + await self._decoder.finish()
        return await self._decoder.finish()

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()

    def _choose(self, head: bytes) -> AudioDecoder:
        if head.startswith(b"RIFF") or self._format == "wav":
            return WavDecoder()
        if self._format == "pcm":
            return PcmDecoder(self._pcm_rate)
        if self._format in CONTAINERS:
            return CompressedDecoder(self._format)
        raise AudioFormatError(f"cannot read audio of format {self._format!r}")
