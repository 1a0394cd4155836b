"""The audio a SNAC frame decodes to: float32 mono PCM at 24 kHz."""

from __future__ import annotations

from unmute.tts.protocol import SAMPLE_RATE, FloatArray

SAMPLES_PER_FRAME = 2048
"""Samples one SNAC frame decodes to (85.3 ms at SAMPLE_RATE)."""

Pcm = FloatArray
"""Float32 mono samples at SAMPLE_RATE."""

__all__ = ["SAMPLES_PER_FRAME", "SAMPLE_RATE", "Pcm"]
