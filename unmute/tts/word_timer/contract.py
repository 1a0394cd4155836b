"""The WordTimer interface: `TimedWord`, `WordTimer`, `MAX_LOOKAHEAD_S`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from unmute.tts.protocol import FloatArray

MAX_LOOKAHEAD_S = 0.5
"""The most audio past a word's start an estimator may wait for before deciding it."""


@dataclass(frozen=True)
class TimedWord:
    """A word and its time on the timer's timeline (seconds of audio pushed since the
    timer was created)."""

    text: str
    """The word exactly as given to `begin_piece`."""
    start_s: float
    stop_s: float


class WordTimer(Protocol):
    """A streaming word-time estimator over consecutive pieces of speech."""

    def begin_piece(self, words: Sequence[str]) -> None:
        """The words of the next piece of speech, whose audio follows via push_audio."""
        ...

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]:
        """24 kHz float32 mono audio of the current piece; the words now decided."""
        ...

    def end_piece(self) -> list[TimedWord]:
        """The piece's audio is complete: every remaining word of the piece, in order."""
        ...
