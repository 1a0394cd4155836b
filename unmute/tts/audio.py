"""Small audio helpers shared by the CLI and backends."""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from unmute.tts.protocol import SAMPLE_RATE, FloatArray


def float_to_pcm16(pcm: FloatArray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (clipped, rounded to
    the nearest step)."""
    scaled = np.clip(pcm, -1.0, 1.0) * 32767.0
    return np.rint(scaled).astype("<i2").tobytes()


def write_wav(
    path: str | Path, chunks: Iterable[FloatArray], sample_rate: int = SAMPLE_RATE
) -> None:
    """Write float32 mono chunks as a 16-bit PCM WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        for chunk in chunks:
            out.writeframes(float_to_pcm16(chunk))
