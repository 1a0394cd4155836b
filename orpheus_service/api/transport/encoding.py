"""Streaming audio encoding with PyAV: float32 24 kHz mono in, container bytes out.

`AudioStreamEncoder` takes PCM chunks as they are synthesized and returns the
bytes that became ready, so a response can stream them at once. Formats follow
OpenAI's `/v1/audio/speech`: wav, pcm (raw 16-bit little-endian), mp3, opus
(in Ogg), flac, aac (ADTS). The output is written to a non-seekable sink, so
containers that patch sizes at the end (wav) keep the streaming placeholders.

`TempoChanger` changes the speed without changing pitch with FFmpeg's `atempo`
filter, chained so that every stage stays within 0.5..2.0.
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from typing import Any, Final, Literal, get_args

import av
import av.error
import av.filter
import numpy as np

from orpheus_service.vocabulary.audio import Pcm
from unmute.tts.audio import float_to_pcm16
from unmute.tts.protocol import SAMPLE_RATE

ResponseFormat = Literal["wav", "pcm", "mp3", "opus", "flac", "aac"]
RESPONSE_FORMATS: Final[tuple[str, ...]] = get_args(ResponseFormat)

MIN_SPEED: Final = 0.25
MAX_SPEED: Final = 4.0

MEDIA_TYPES: Final[dict[str, str]] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
}

# format -> (container, codec, bit rate or None, muxer options)
_CODECS: Final[dict[str, tuple[str, str, int | None, dict[str, str]]]] = {
    "wav": ("wav", "pcm_s16le", None, {}),
    "mp3": ("mp3", "libmp3lame", 64_000, {"write_xing": "0"}),
    "opus": ("ogg", "libopus", 32_000, {"page_duration": "20000"}),
    "flac": ("flac", "flac", None, {}),
    "aac": ("adts", "aac", 64_000, {}),
}


class _Sink:
    """A write-only, non-seekable file for PyAV; collects what the muxer writes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _frame(pcm: Pcm, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, SAMPLE_RATE)
    return frame


class AudioStreamEncoder:
    """Encodes a stream of float32 chunks into one response format, incrementally."""

    def __init__(self, response_format: str) -> None:
        if response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"unknown response_format {response_format!r}; "
                f"expected one of {', '.join(RESPONSE_FORMATS)}"
            )
        self.response_format = response_format
        self.media_type = MEDIA_TYPES[response_format]
        self._pts = 0
        self._closed = False
        self._sink: _Sink | None = None
        self._container: Any = None
        self._stream: Any = None
        if response_format != "pcm":
            self._open()

    def _open(self) -> None:
        container_format, codec, bit_rate, options = _CODECS[self.response_format]
        self._sink = _Sink()
        container: Any = av.open(
            self._sink,
            mode="w",
            format=container_format,
            container_options={"flush_packets": "1", **options},
        )
        stream: Any = container.add_stream(codec, rate=SAMPLE_RATE)
        stream.codec_context.layout = "mono"
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        self._container = container
        self._stream = stream

    def encode(self, pcm: Pcm) -> bytes:
        """Add samples; return the bytes ready so far (may be empty)."""
        if self._closed:
            raise RuntimeError("encoder already finished")
        if pcm.size == 0:
            return b""
        if self._sink is None:
            return float_to_pcm16(pcm)
        frame = _frame(pcm, self._pts)
        self._pts += pcm.shape[0]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        """Flush the encoder and write the container trailer; return the last bytes."""
        if self._closed:
            return b""
        self._closed = True
        if self._sink is None:
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def close(self) -> None:
        """Release the encoder without producing more output (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._container is not None:
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                self._container.close()


def tempo_stages(speed: float) -> list[float]:
    """`speed` as a product of atempo factors each within 0.5..2.0."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be within {MIN_SPEED}..{MAX_SPEED}, got {speed}")
    stages: list[float] = []
    rest = speed
    while rest > 2.0 + 1e-9:
        stages.append(2.0)
        rest /= 2.0
    while rest < 0.5 - 1e-9:
        stages.append(0.5)
        rest /= 0.5
    if not math.isclose(rest, 1.0) or not stages:
        stages.append(rest)
    return stages


class TempoChanger:
    """Plays audio `speed` times faster (or slower) at the same pitch, streaming."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        graph = av.filter.Graph()
        source: Any = graph.add_abuffer(
            format="flt",
            sample_rate=SAMPLE_RATE,
            layout="mono",
            time_base=Fraction(1, SAMPLE_RATE),
        )
        previous: Any = source
        for factor in tempo_stages(speed):
            stage = graph.add("atempo", f"{factor:.6f}")
            previous.link_to(stage)
            previous = stage
        sink: Any = graph.add("abuffersink")
        previous.link_to(sink)
        graph.configure()
        self._graph = graph
        self._source = source
        self._sink = sink
        self._pts = 0
        self._done = False

    def process(self, pcm: Pcm) -> Pcm:
        """Add samples; return the output ready so far."""
        if self._done:
            raise RuntimeError("tempo changer already finished")
        if pcm.size == 0:
            return np.zeros(0, dtype=np.float32)
        self._source.push(_frame(pcm, self._pts))
        self._pts += pcm.shape[0]
        return self._drain()

    def finish(self) -> Pcm:
        """End of input: return the rest of the output."""
        if self._done:
            return np.zeros(0, dtype=np.float32)
        self._done = True
        self._source.push(None)
        return self._drain()

    def _drain(self) -> Pcm:
        chunks: list[Pcm] = []
        while True:
            try:
                frame: Any = self._sink.pull()
            except (BlockingIOError, av.error.EOFError):
                break
            chunks.append(np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1))
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks)


class AudioPipeline:
    """Speed change (when not 1.0) followed by encoding; one per response."""

    def __init__(self, response_format: str, speed: float = 1.0) -> None:
        self.encoder = AudioStreamEncoder(response_format)
        self.tempo = None if math.isclose(speed, 1.0) else TempoChanger(speed)

    @property
    def media_type(self) -> str:
        """The Content-Type of the encoded stream."""
        return self.encoder.media_type

    def feed(self, pcm: Pcm) -> bytes:
        """Add synthesized samples; return encoded bytes ready to send."""
        if self.tempo is not None:
            pcm = self.tempo.process(pcm)
        return self.encoder.encode(pcm)

    def finish(self) -> bytes:
        """End of the audio: return the last encoded bytes."""
        data = b""
        if self.tempo is not None:
            data = self.encoder.encode(self.tempo.finish())
        return data + self.encoder.finish()

    def close(self) -> None:
        """Drop the pipeline without finishing (client gone, error)."""
        self.encoder.close()
