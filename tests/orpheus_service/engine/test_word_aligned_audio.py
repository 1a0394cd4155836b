"""Decoded audio and its word times in sending order (WordAlignedAudio)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from orpheus_service.engine.word_aligned_audio import AlignerReading, Released, WordAlignedAudio
from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer import TimedWord

WORD_S = 0.2
LOOKAHEAD_S = 0.5
PIECE = round(0.1 * SAMPLE_RATE)


class EvenlySpacedTimer:
    """Words every 0.2 s from the piece's start; each decided 0.5 s of audio past it."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.next = 0
        self.pushed_s = 0.0

    def begin_piece(self, words: Sequence[str]) -> None:
        self.words, self.next, self.pushed_s = list(words), 0, 0.0

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]:
        self.pushed_s += pcm.shape[0] / SAMPLE_RATE
        return self._decided(lambda start: start + LOOKAHEAD_S <= self.pushed_s + 1e-9)

    def end_piece(self) -> list[TimedWord]:
        return self._decided(lambda _start: True)

    def _decided(self, rule: Callable[[float], bool]) -> list[TimedWord]:
        out: list[TimedWord] = []
        while self.next < len(self.words):
            start = self.next * WORD_S
            if not rule(start):
                break
            out.append(TimedWord(self.words[self.next], start, start + WORD_S))
            self.next += 1
        return out


def piece() -> FloatArray:
    return np.zeros(PIECE, dtype=np.float32)


def audio_count(released: Released) -> int:
    return sum(not isinstance(item, TimedWord) for item in released)


def test_without_a_hold_each_piece_goes_out_with_the_push_that_brings_it() -> None:
    aligned = WordAlignedAudio(EvenlySpacedTimer(), hold_s=0.0)
    aligned.begin(["a", "b", "c", "d"])
    assert [audio_count(aligned.push(piece())) for _ in range(8)] == [1] * 8


def test_without_a_hold_a_word_goes_out_with_the_push_that_decides_it_before_its_audio() -> None:
    aligned = WordAlignedAudio(EvenlySpacedTimer(), hold_s=0.0)
    aligned.begin(["a", "b"])
    released = [aligned.push(piece()) for _ in range(5)]
    assert all(audio_count(r) == 1 for r in released)
    assert isinstance(released[4][0], TimedWord) and released[4][0].text == "a"
    assert not any(isinstance(item, TimedWord) for r in released[:4] for item in r)


def test_with_a_full_hold_each_word_comes_right_before_the_piece_it_starts_in() -> None:
    aligned = WordAlignedAudio(EvenlySpacedTimer(), hold_s=LOOKAHEAD_S)
    aligned.begin(["a", "b", "c"])
    out: Released = []
    for _ in range(7):
        out += aligned.push(piece())
    out += aligned.finish()
    sent = 0
    for item in out:
        if isinstance(item, TimedWord):
            assert sent <= round(item.start_s * SAMPLE_RATE) < sent + PIECE
        else:
            sent += item.shape[0]
    assert [i.text for i in out if isinstance(i, TimedWord)] == ["a", "b", "c"]


def test_with_a_full_hold_the_first_piece_waits_for_the_lookahead() -> None:
    aligned = WordAlignedAudio(EvenlySpacedTimer(), hold_s=LOOKAHEAD_S)
    aligned.begin(["a", "b"])
    assert [audio_count(aligned.push(piece())) for _ in range(6)] == [0] * 5 + [1]


def test_finish_sends_every_word_and_piece_left() -> None:
    aligned = WordAlignedAudio(EvenlySpacedTimer(), hold_s=LOOKAHEAD_S)
    aligned.begin(["a", "b", "c"])
    out = aligned.push(piece()) + aligned.push(piece()) + aligned.finish()
    assert audio_count(out) == 2
    assert [i.text for i in out if isinstance(i, TimedWord)] == ["a", "b", "c"]


def test_a_negative_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="hold_s"):
        WordAlignedAudio(EvenlySpacedTimer(), hold_s=-0.1)


async def test_the_aligner_reading_starts_once_and_feeds_the_timer() -> None:
    timer = EvenlySpacedTimer()
    reading = AlignerReading(WordAlignedAudio(timer, hold_s=0.0), ["a", "b"])
    first = reading.start()
    assert reading.start() is first
    await first
    assert timer.words == ["a", "b"]


def test_cancelling_a_reading_never_started_does_nothing() -> None:
    reading = AlignerReading(WordAlignedAudio(EvenlySpacedTimer(), hold_s=0.0), ["a"])
    reading.cancel()
    assert reading.future is None
