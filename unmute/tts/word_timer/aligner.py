"""`EspeakDtwWordTimer`: word times by aligning the audio with espeak-ng's reading of the
same words (the technique of the aeneas aligner), streamed.

At `begin_piece` espeak speaks the words (exact word starts in its own audio); as the
real audio arrives its MFCCs extend an open-end DTW against espeak's, and a word's start
is where the best path so far crosses the word's start in the reference. The path is
stable well behind its end, so a word is decided once `lookahead_s` of audio past its
estimated start is in.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from unmute.tts.protocol import FloatArray
from unmute.tts.word_timer.contract import MAX_LOOKAHEAD_S
from unmute.tts.word_timer.dtw import StreamingDtw
from unmute.tts.word_timer.features import FRAME_S, Features, StreamingMfcc, mfcc
from unmute.tts.word_timer.reference import speak_reference
from unmute.tts.word_timer.streaming import StreamingWordTimer, word_weight

BOUNDARY_SHIFT_S: Final = 0.035
"""espeak's word event comes this much before the word's sound in its audio."""


def espeak_voice_for(language: str) -> str:
    """The espeak voice for a language code such as en-us (UnknownVoiceError if none)."""
    from unmute.tts.espeak_ng.engine import EspeakEngine

    return EspeakEngine.get().resolve_voice(language)


def _select(features: Features) -> Features:
    """The coefficients compared: c1.. (c0, loudness, differs most between voices)."""
    return np.ascontiguousarray(features[:, 1:])


class EspeakDtwWordTimer(StreamingWordTimer):
    """Word starts from a streaming DTW of the audio against espeak-ng's reading."""

    def __init__(self, voice: str, *, lookahead_s: float = MAX_LOOKAHEAD_S) -> None:
        super().__init__(lookahead_s=lookahead_s)
        self.voice = voice
        self._weights: list[float] = []
        self._boundaries: list[int] = []
        self._dtw: StreamingDtw | None = None
        self._features = StreamingMfcc()

    def _start(self, words: list[str]) -> None:
        self._weights = [word_weight(word) for word in words]
        self._features = StreamingMfcc()
        reference = speak_reference(words, self.voice)
        frames = _select(mfcc(reference.pcm))
        self._dtw = StreamingDtw(frames) if len(frames) else None
        last = max(len(frames) - 1, 0)
        self._boundaries = [
            min(max(round((start + BOUNDARY_SHIFT_S) / FRAME_S), 0), last)
            for start in reference.starts_s
        ]

    def _observe(self, samples: FloatArray) -> None:
        frames = self._features.push(samples)
        if self._dtw is not None and len(frames):
            self._dtw.push(_select(frames))

    def _estimates(self, final: bool) -> list[float | None]:
        first = self.emitted
        pending = self._boundaries[first:]
        found: list[float | None] = [None] * len(pending)
        if self._dtw is not None:
            rows = self._dtw.crossings(pending, closed=final)
            found = [None if row is None else row * FRAME_S for row in rows]
        if not final:
            return found
        # The rest share what is left of the audio by weight.
        known = [f for f in found if f is not None]
        begin = known[-1] if known else 0.0
        missing = [i for i, f in enumerate(found) if f is None]
        if missing:
            end = self.pushed_s
            weights = [self._weights[first + i] for i in missing]
            total = sum(weights) + (self._weights[first + missing[0] - 1] if known else 0.0)
            cumulative = total - sum(weights)
            for i, weight in zip(missing, weights, strict=True):
                found[i] = begin + (end - begin) * cumulative / total if total else begin
                cumulative += weight
        return found
