"""What the engine yields: audio chunks that know their length, immutable events, the
counters of a synthesis, and errors under one base class."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from orpheus_service.engine.events import (
    AudioChunk,
    EngineStats,
    NoAudioError,
    OrpheusEngineError,
    WordTiming,
)
from orpheus_service.engine.tokens import TokenStats
from orpheus_service.vocabulary.audio import SAMPLE_RATE


def test_an_audio_chunk_lasts_its_samples_at_the_sample_rate() -> None:
    chunk = AudioChunk(np.zeros(SAMPLE_RATE // 4, dtype=np.float32), start_s=1.0, segment=0)
    assert chunk.duration_s == pytest.approx(0.25)


def test_events_cannot_be_changed_once_yielded() -> None:
    word = WordTiming("hello", start_s=0.0, stop_s=0.3, segment=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        word.start_s = 1.0  # type: ignore[misc]


def test_dropped_frames_are_those_of_the_summed_token_counters() -> None:
    stats = EngineStats()
    stats.tokens.add(TokenStats(frames=5, dropped_frames=2))
    stats.tokens.add(TokenStats(frames=3, dropped_frames=1))
    assert stats.dropped_frames == 3


def test_a_segment_without_audio_is_an_engine_error() -> None:
    assert issubclass(NoAudioError, OrpheusEngineError)
