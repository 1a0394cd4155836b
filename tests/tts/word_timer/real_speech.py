"""Real speech for the word timer tests: sentences spoken by piper with each word's true
start, and `feed`, which times a piece's words over its audio pushed in chunks."""

from __future__ import annotations

import numpy as np

from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer import TimedWord, WordTimer

CHUNK = SAMPLE_RATE * 80 // 1000
"""80 ms of audio per push."""

SENTENCES = [
    "Hi there! Could you tell me, roughly, what time the museum opens?",
    "Sure, it opens at nine, and closes at half past five.",
    "Okay, so we need eggs, flour, some butter and, um, a little sugar.",
]
"""Not in the benchmark's corpus."""


def feed(
    timer: WordTimer, words: list[str], pcm: np.ndarray, chunk: int = CHUNK
) -> list[TimedWord]:
    """The words timed over `pcm` pushed `chunk` samples at a time, then the piece's end."""
    timer.begin_piece(words)
    out: list[TimedWord] = []
    for at in range(0, len(pcm), chunk):
        out += timer.push_audio(pcm[at : at + chunk])
    return out + timer.end_piece()
