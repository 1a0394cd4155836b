"""The WordTimer contract, for both estimators, on real speech (piper's voice), and bad
input: every word once, in order, within its piece, on one timeline, by the lookahead."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from bench.word_timing_corpus import Piece
from tests.tts.word_timer.real_speech import CHUNK, feed
from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer import TimedWord, WordTimer
from unmute.tts.word_timer.aligner import EspeakDtwWordTimer
from unmute.tts.word_timer.proportional import ProportionalWordTimer

TIMERS: dict[str, Callable[[], WordTimer]] = {
    "espeak-dtw": lambda: EspeakDtwWordTimer("en-us"),
    "proportional": lambda: ProportionalWordTimer(),
}


@pytest.fixture(params=sorted(TIMERS))
def timer(request: pytest.FixtureRequest) -> WordTimer:
    return TIMERS[request.param]()


def test_every_word_comes_back_once_in_order_within_the_piece(
    timer: WordTimer, speech: list[Piece]
) -> None:
    piece = speech[0]
    words = feed(timer, piece.words, piece.pcm)
    assert [w.text for w in words] == piece.words
    seconds = len(piece.pcm) / SAMPLE_RATE
    assert all(0.0 <= w.start_s <= w.stop_s <= seconds for w in words)
    assert all(a.start_s <= b.start_s for a, b in itertools.pairwise(words))


def test_pieces_continue_on_one_timeline(timer: WordTimer, speech: list[Piece]) -> None:
    first, second = speech[0], speech[1]
    feed(timer, first.words, first.pcm)
    words = feed(timer, second.words, second.pcm)
    begin = len(first.pcm) / SAMPLE_RATE
    end = begin + len(second.pcm) / SAMPLE_RATE
    assert all(begin <= w.start_s <= w.stop_s <= end for w in words)
    assert words[0].start_s - begin == pytest.approx(second.starts_s[0], abs=0.25)


def test_a_word_comes_back_no_later_than_the_push_past_its_start_plus_lookahead(
    timer: WordTimer, speech: list[Piece]
) -> None:
    piece = speech[2]
    timer.begin_piece(piece.words)
    pushed = 0
    returned: list[TimedWord] = []
    for at in range(0, len(piece.pcm), CHUNK):
        before_s = pushed / SAMPLE_RATE
        block = piece.pcm[at : at + CHUNK]
        pushed += len(block)
        for word in timer.push_audio(block):
            assert before_s < word.start_s + 0.5, (word, before_s)
            returned.append(word)
    ended_s = pushed / SAMPLE_RATE
    for word in timer.end_piece():
        assert ended_s < word.start_s + 0.5, (word, ended_s)
        returned.append(word)
    assert [w.text for w in returned] == piece.words


def test_a_piece_begun_before_the_previous_one_ended_is_an_error(timer: WordTimer) -> None:
    timer.begin_piece(["one"])
    with pytest.raises(RuntimeError, match="end_piece"):
        timer.begin_piece(["two"])


BAD_WORDS = {
    "empty words": ["", "hello", "", "there"],
    "punctuation only": ["...", "—", "?!", "ok", ","],
    "emoji": ["🙂", "fine", "👍👍"],
    "no words": [],
}


@pytest.mark.parametrize("case", sorted(BAD_WORDS))
def test_odd_words_still_get_times(timer: WordTimer, case: str, speech: list[Piece]) -> None:
    words = BAD_WORDS[case]
    got = feed(timer, words, speech[0].pcm[:SAMPLE_RATE])
    assert [w.text for w in got] == words
    assert all(0.0 <= w.start_s <= w.stop_s <= 1.0 for w in got)


AUDIO = {
    "silence": np.zeros(SAMPLE_RATE, dtype=np.float32),
    "not a number": np.full(SAMPLE_RATE // 2, np.nan, dtype=np.float32),
    "huge values": np.full(SAMPLE_RATE // 2, 3000.0, dtype=np.float32),
    "a few samples": np.zeros(7, dtype=np.float32),
    "none": np.zeros(0, dtype=np.float32),
}


@pytest.mark.parametrize("case", sorted(AUDIO))
def test_odd_audio_still_times_every_word(timer: WordTimer, case: str) -> None:
    words = ["well", "this", "is", "not", "what", "you", "expected"]
    pcm = AUDIO[case]
    got = feed(timer, words, pcm)
    assert [w.text for w in got] == words
    assert all(0.0 <= w.start_s <= w.stop_s <= len(pcm) / SAMPLE_RATE for w in got)


def test_more_words_than_audio_are_squeezed_into_it(timer: WordTimer, speech: list[Piece]) -> None:
    words = [f"word{i}" for i in range(100)]
    got = feed(timer, words, speech[0].pcm[: SAMPLE_RATE // 3])
    assert [w.text for w in got] == words
    assert got[-1].stop_s <= 1 / 3 + 1e-9


def test_audio_without_a_piece_moves_the_timeline_on(timer: WordTimer) -> None:
    assert timer.push_audio(np.zeros(SAMPLE_RATE, dtype=np.float32)) == []
    assert timer.end_piece() == []
    words = feed(timer, ["late"], np.zeros(SAMPLE_RATE, dtype=np.float32))
    assert words[0].start_s >= 1.0
