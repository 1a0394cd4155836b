"""ProportionalWordTimer: words spread by their weight over the speech, from its onset
after the leading silence; no word is decided before any speech is heard."""

from __future__ import annotations

import numpy as np
import pytest

from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer.proportional import ProportionalWordTimer
from unmute.tts.word_timer.streaming import word_weight


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_words_are_spread_by_weight_from_the_onset_of_speech() -> None:
    words = ["a", "bbb", "cc"]
    timer = ProportionalWordTimer()
    timer.begin_piece(words)
    timed = timer.push_audio(np.concatenate([silence(0.5), tone(1.2)])) + timer.end_piece()
    weights = [word_weight(w) for w in words]
    expected = 0.5 + 1.2 * np.cumsum([0.0, *weights[:-1]]) / sum(weights)
    assert [w.text for w in timed] == words
    assert [w.start_s for w in timed] == pytest.approx(expected.tolist(), abs=0.02)


def test_no_word_is_decided_while_only_silence_was_heard() -> None:
    timer = ProportionalWordTimer()
    timer.begin_piece(["hello", "there"])
    assert timer.push_audio(silence(1.0)) == []
