"""Word times for speech whose engine gives none, estimated from the audio itself.

`create_word_timer()` returns the best estimator installed here: `EspeakDtwWordTimer`
(the words spoken by libespeak-ng, whose word times are exact for its own audio,
mapped onto the real audio by streaming dynamic time warping of MFCCs) when the
`espeak` extra is installed, else `ProportionalWordTimer` (a spread by word length at
a speaking rate learned as audio arrives). Both follow `WordTimer`: the words of a
piece of speech, then its audio in any chunk sizes; each word comes back once, in
order, once at most `lookahead_s` of audio past its start has been pushed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from unmute.tts.extras import missing_modules
from unmute.tts.protocol import FloatArray

logger = logging.getLogger(__name__)

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


def create_word_timer(
    *, lookahead_s: float = MAX_LOOKAHEAD_S, language: str = "en-us"
) -> WordTimer:
    """The best estimator installed here (see the module docstring); logs which at DEBUG."""
    from unmute.tts.word_timer.proportional import ProportionalWordTimer

    missing = missing_modules("espeakng_loader", "soxr")
    if missing:
        logger.debug("word timer: proportional spread (%s not installed)", ", ".join(missing))
        return ProportionalWordTimer(lookahead_s=lookahead_s)
    from unmute.tts.word_timer.aligner import EspeakDtwWordTimer, espeak_voice_for

    try:
        voice = espeak_voice_for(language)
    except Exception as exc:  # the library cannot load, or has no such language
        logger.warning("word timer: proportional spread (espeak-ng unusable: %s)", exc)
        return ProportionalWordTimer(lookahead_s=lookahead_s)
    logger.debug("word timer: espeak-ng + DTW aligner (voice %s)", voice)
    return EspeakDtwWordTimer(voice, lookahead_s=lookahead_s)
