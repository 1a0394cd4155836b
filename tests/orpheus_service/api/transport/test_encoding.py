"""Streaming encoders (PyAV) and the pitch-preserving speed change."""

from __future__ import annotations

import io
import math
from typing import Any

import av
import numpy as np
import pytest

from orpheus_service.api.transport.encoding import (
    RESPONSE_FORMATS,
    AudioPipeline,
    AudioStreamEncoder,
    tempo_stages,
)
from unmute.tts.audio import float_to_pcm16
from unmute.tts.protocol import SAMPLE_RATE as RATE


def sine(seconds: float, freq: float = 440.0) -> np.ndarray[Any, np.dtype[np.float32]]:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(fmt: str, pcm: np.ndarray[Any, Any], speed: float = 1.0) -> bytes:
    pipeline = AudioPipeline(fmt, speed)
    out = b"".join(pipeline.feed(pcm[i : i + 2048]) for i in range(0, len(pcm), 2048))
    return out + pipeline.finish()


def decode(fmt: str, data: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Mono float samples at 24 kHz."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0
    container = av.open(io.BytesIO(data), mode="r")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    chunks: list[np.ndarray[Any, Any]] = []
    for frame in container.decode(audio=0):
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32)


def dominant_hz(pcm: np.ndarray[Any, Any]) -> float:
    middle = pcm[len(pcm) // 4 : 3 * len(pcm) // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    return float(np.argmax(spectrum) * RATE / len(middle))


@pytest.mark.parametrize("fmt", RESPONSE_FORMATS)
def test_every_format_decodes_back_to_the_same_length(fmt: str) -> None:
    pcm = sine(1.0)
    decoded = decode(fmt, encode(fmt, pcm))
    # Lossy codecs pad by up to a frame or two (encoder delay); never lose audio.
    assert len(pcm) - 64 <= len(decoded) <= len(pcm) + 3000


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus", "aac"])
def test_encoded_bytes_flow_before_the_stream_ends(fmt: str) -> None:
    encoder = AudioStreamEncoder(fmt)
    early = b"".join(encoder.encode(chunk) for chunk in np.split(sine(0.5)[:10240], 5))
    encoder.finish()
    assert len(early) > 0


def test_flac_output_is_lossless() -> None:
    pcm = sine(0.5)
    decoded = decode("flac", encode("flac", pcm))
    expected = np.frombuffer(float_to_pcm16(pcm), dtype="<i2").astype(np.float32) / 32767.0
    np.testing.assert_allclose(decoded[: len(expected)], expected, atol=1e-4)


def test_wav_stream_has_a_riff_header_for_24khz_16bit_mono() -> None:
    data = encode("wav", sine(0.1))
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    container = av.open(io.BytesIO(data), mode="r")
    stream = container.streams.audio[0]
    assert (stream.rate, stream.channels, stream.format.name) == (24000, 1, "s16")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown response_format"):
        AudioStreamEncoder("ogg_vorbis")


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.5, 2.0, 3.0, 4.0])
def test_speed_changes_duration_by_its_factor(speed: float) -> None:
    pcm = sine(2.0)
    out = decode("pcm", encode("pcm", pcm, speed))
    assert len(out) == pytest.approx(len(pcm) / speed, rel=0.05)


@pytest.mark.parametrize("speed", [0.25, 2.0, 4.0])
def test_speed_keeps_the_pitch(speed: float) -> None:
    out = decode("pcm", encode("pcm", sine(2.0, 440.0), speed))
    assert dominant_hz(out) == pytest.approx(440.0, abs=15.0)


@pytest.mark.parametrize("speed", [0.25, 0.3, 0.7, 1.0, 2.5, 4.0])
def test_tempo_stages_stay_within_atempo_range_and_multiply_to_speed(speed: float) -> None:
    stages = tempo_stages(speed)
    assert all(0.5 <= s <= 2.0 for s in stages)
    assert math.prod(stages) == pytest.approx(speed)


def test_pcm_conversion_clips_and_scales_to_int16() -> None:
    data = float_to_pcm16(np.array([0.0, 1.0, -1.0, 2.0, -2.0, 0.5], dtype=np.float32))
    assert np.frombuffer(data, dtype="<i2").tolist() == [0, 32767, -32767, 32767, -32767, 16384]
