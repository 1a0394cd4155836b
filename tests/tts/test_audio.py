"""Float audio as 16-bit PCM and WAV files."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from unmute.tts.audio import float_to_pcm16, write_wav
from unmute.tts.protocol import SAMPLE_RATE


def test_full_scale_floats_become_the_int16_extremes_rounded_to_the_nearest_step() -> None:
    pcm = np.array([-1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    assert np.frombuffer(float_to_pcm16(pcm), "<i2").tolist() == [-32767, 0, 32767, 16384]


def test_samples_outside_full_scale_are_clipped() -> None:
    pcm = np.array([-3.0, 2.0], dtype=np.float32)
    assert np.frombuffer(float_to_pcm16(pcm), "<i2").tolist() == [-32767, 32767]


def test_a_wav_holds_every_chunk_in_order_as_mono_16_bit(tmp_path: Path) -> None:
    chunks = [np.full(100, 0.25, dtype=np.float32), np.full(50, -0.25, dtype=np.float32)]
    path = tmp_path / "out.wav"
    write_wav(path, chunks)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        assert wav.getframerate() == SAMPLE_RATE
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert samples.tolist() == [8192] * 100 + [-8192] * 50
