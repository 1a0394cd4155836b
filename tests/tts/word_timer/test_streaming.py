"""StreamingWordTimer, the base of the estimators: a word goes out once the lookahead of
audio past its estimated start is in, every word by the piece's end, on one timeline
across pieces; pieces must not overlap; word weights count what is spoken."""

from __future__ import annotations

import numpy as np
import pytest

from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer.streaming import StreamingWordTimer, word_weight


class FixedStarts(StreamingWordTimer):
    """Estimates each word's start at the piece time given for it."""

    def __init__(self, starts_s: list[float], *, lookahead_s: float = 0.2) -> None:
        super().__init__(lookahead_s=lookahead_s)
        self.starts_s = starts_s

    def _estimates(self, final: bool) -> list[float | None]:
        return list(self.starts_s[self.emitted :])


def audio(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def test_a_word_goes_out_once_the_lookahead_past_its_start_is_in() -> None:
    timer = FixedStarts([0.1, 0.5])
    timer.begin_piece(["one", "two"])
    assert timer.push_audio(audio(0.25)) == []
    first = timer.push_audio(audio(0.1))  # 0.35 s in: 0.1 + 0.2 reached
    assert [w.text for w in first] == ["one"]
    assert first[0].start_s == pytest.approx(0.1)


def test_the_end_of_a_piece_gives_every_word_left() -> None:
    timer = FixedStarts([0.1, 0.5])
    timer.begin_piece(["one", "two"])
    timer.push_audio(audio(0.2))
    assert [w.text for w in timer.end_piece()] == ["one", "two"]


def test_a_word_stops_where_the_next_starts_and_the_last_at_the_audios_end() -> None:
    timer = FixedStarts([0.1, 0.5])
    timer.begin_piece(["one", "two"])
    words = timer.push_audio(audio(1.0)) + timer.end_piece()
    assert [t for w in words for t in (w.start_s, w.stop_s)] == pytest.approx([0.1, 0.5, 0.5, 1.0])


def test_the_next_piece_continues_the_timeline() -> None:
    timer = FixedStarts([0.1])
    timer.begin_piece(["one"])
    timer.push_audio(audio(0.6))
    timer.end_piece()
    timer.begin_piece(["two"])
    (word,) = timer.push_audio(audio(0.6)) + timer.end_piece()
    assert word.start_s == pytest.approx(0.7)


def test_a_piece_begun_before_the_previous_one_ended_is_refused() -> None:
    timer = FixedStarts([])
    timer.begin_piece(["one"])
    with pytest.raises(RuntimeError, match="end_piece"):
        timer.begin_piece(["two"])


def test_a_lookahead_outside_the_contracts_range_is_refused() -> None:
    with pytest.raises(ValueError, match="lookahead_s"):
        FixedStarts([], lookahead_s=-0.1)


def test_a_words_weight_counts_its_letters_and_digits_not_its_punctuation() -> None:
    assert word_weight("don't,") == word_weight("dont") > word_weight("!") > 0
