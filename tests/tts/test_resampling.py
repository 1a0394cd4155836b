"""Streamed audio resampled to 24 kHz and released in blocks (unmute.tts.resampling)."""

from __future__ import annotations

import numpy as np
import pytest

from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.resampling import ResampledBlocks


def _tone(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_blocks_are_full_until_the_stream_finishes() -> None:
    blocks = ResampledBlocks(SAMPLE_RATE, 100, extra="espeak")
    blocks.push(np.zeros(250, dtype=np.float32))
    assert [len(b) for b in blocks.take()] == [100, 100]
    blocks.finish()
    assert [len(b) for b in blocks.take()] == [50]


def test_a_partial_take_gives_everything_buffered_in_blocks_of_at_most_the_size() -> None:
    blocks = ResampledBlocks(SAMPLE_RATE, 100, extra="espeak")
    blocks.push(np.zeros(250, dtype=np.float32))
    assert [len(b) for b in blocks.take(partial=True)] == [100, 100, 50]
    assert blocks.length == 0


def test_take_limit_holds_back_audio_past_it() -> None:
    blocks = ResampledBlocks(SAMPLE_RATE, 100, extra="espeak")
    blocks.push(np.zeros(500, dtype=np.float32))
    assert len(blocks.take(250)) == 2
    assert blocks.length == 300


def test_22050_hz_stream_becomes_the_same_duration_at_24_khz() -> None:
    tone = _tone(22_050, 1.0)
    blocks = ResampledBlocks(22_050, 1920, extra="espeak")
    for piece in np.array_split(tone, 7):
        blocks.push(piece)
    blocks.finish()
    out = np.concatenate(blocks.take())
    assert abs(len(out) - SAMPLE_RATE) <= 2
    assert all(len(b) <= 1920 for b in blocks.take())
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(out) - 440) < 2


def test_push_after_finish_is_refused() -> None:
    blocks = ResampledBlocks(16_000, 10, extra="espeak")
    blocks.finish()
    with pytest.raises(RuntimeError):
        blocks.push(np.zeros(3, dtype=np.float32))
