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

from unmute.tts.extras import missing_modules
from unmute.tts.word_timer.contract import MAX_LOOKAHEAD_S, TimedWord, WordTimer

logger = logging.getLogger(__name__)

__all__ = ["MAX_LOOKAHEAD_S", "TimedWord", "WordTimer", "create_word_timer"]


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
