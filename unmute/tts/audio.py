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


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """Read a 16-bit mono WAV file as float32 samples and its sample rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32767.0, rate
