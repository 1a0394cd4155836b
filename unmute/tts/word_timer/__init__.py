"""Word times estimated from streamed audio (placeholder of the shared estimator).

This is a stand-in with the agreed interface (see the module of the same name on
main once the shared estimator lands, which replaces it): words are spread over the
audio by their length in characters, at a typical speaking rate while the piece's
audio streams in, and fitted to the piece's real length once it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from unmute.tts.protocol import SAMPLE_RATE, FloatArray

logger = logging.getLogger(__name__)

CHARS_PER_S: Final = 14.0
"""A typical speaking rate, characters (spaces included) per second."""


@dataclass(frozen=True)
class TimedWord:
    """A word and its times on the timer's timeline (seconds of audio pushed)."""

    text: str
    start_s: float
    stop_s: float


class WordTimer(Protocol):
    """Times the words of pieces of speech as their audio streams in."""

    def begin_piece(self, words: Sequence[str]) -> None: ...

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]: ...

    def end_piece(self) -> list[TimedWord]: ...


class _CharacterRateTimer:
    """Spreads words over the audio by character count."""

    def __init__(self, lookahead_s: float) -> None:
        self.lookahead_s = lookahead_s
        self._pushed_s = 0.0
        self._piece_start_s = 0.0
        self._words: list[str] = []
        self._offsets: list[float] = []
        """Start of each word in characters from the piece's start, then the total."""
        self._given = 0

    def begin_piece(self, words: Sequence[str]) -> None:
        self._words = list(words)
        self._piece_start_s = self._pushed_s
        self._offsets = [0.0]
        for word in self._words:
            self._offsets.append(self._offsets[-1] + len(word) + 1)
        self._given = 0

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]:
        self._pushed_s += len(pcm) / SAMPLE_RATE
        out: list[TimedWord] = []
        while self._given < len(self._words):
            start = self._piece_start_s + self._offsets[self._given] / CHARS_PER_S
            stop = self._piece_start_s + self._offsets[self._given + 1] / CHARS_PER_S
            if max(start + self.lookahead_s, stop) > self._pushed_s:
                break
            out.append(TimedWord(self._words[self._given], start, stop))
            self._given += 1
        return out

    def end_piece(self) -> list[TimedWord]:
        begin = self._piece_start_s
        if self._given:
            begin += self._offsets[self._given] / CHARS_PER_S
        begin = min(begin, self._pushed_s)
        span = self._pushed_s - begin
        chars = self._offsets[-1] - self._offsets[self._given]
        out: list[TimedWord] = []
        for index in range(self._given, len(self._words)):
            first = (self._offsets[index] - self._offsets[self._given]) / chars
            last = (self._offsets[index + 1] - self._offsets[self._given]) / chars
            out.append(TimedWord(self._words[index], begin + first * span, begin + last * span))
        self._given = len(self._words)
        return out


def create_word_timer(*, lookahead_s: float = 0.5, language: str = "en-us") -> WordTimer:
    """The estimator installed here (this placeholder: the character-rate rule)."""
    logger.debug("word timer: character-rate rule (%s)", language)
    return _CharacterRateTimer(lookahead_s)
