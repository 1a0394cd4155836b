"""The reference for alignment: a piece's words spoken by libespeak-ng, with the exact
start of each word in that audio (from espeak's word events)."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

import numpy as np

from unmute.tts.espeak_ng.engine import EspeakEngine
from unmute.tts.espeak_ng.stream import SynthChunk
from unmute.tts.extras import require_extra
from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer.streaming import word_weight


@dataclass(frozen=True)
class Reference:
    """24 kHz reference audio and each word's start in it (seconds)."""

    pcm: FloatArray
    starts_s: list[float]


def speak_reference(words: list[str], voice: str) -> Reference:
    """Synthesize `words` (joined by spaces) with espeak's `voice`; every word gets a
    start: espeak announces most words, and the rest (punctuation, words it reads with
    a neighbour) share the interval around them by weight."""
    engine = EspeakEngine.get()
    chunks: list[SynthChunk] = []
    text = " ".join(words)
    if text.strip():
        engine.synthesize(text, voice, chunks.append, end_pause=False)
    native = (
        np.concatenate([chunk.samples for chunk in chunks]).astype(np.float32) / 32768.0
        if chunks
        else np.zeros(0, dtype=np.float32)
    )
    if len(native) and engine.sample_rate != SAMPLE_RATE:
        soxr = require_extra("soxr", "espeak", feature="word timing")
        pcm = np.asarray(soxr.resample(native, engine.sample_rate, SAMPLE_RATE), np.float32)
    else:
        pcm = native
    duration = len(native) / engine.sample_rate
    char_starts: list[int] = []
    position = 0
    for word in words:
        char_starts.append(position)
        position += len(word) + 1
    known: dict[int, float] = {}
    for chunk in chunks:
        for event in chunk.words:
            index = max(bisect.bisect_right(char_starts, event.char_index) - 1, 0)
            if index < len(words):
                known.setdefault(index, event.sample / engine.sample_rate)
    return Reference(pcm=pcm, starts_s=_fill(words, known, duration))


def _fill(words: list[str], known: dict[int, float], duration: float) -> list[float]:
    """Starts for every word: the known ones (made non-decreasing); between two known
    starts (or the audio's ends), the words there share the interval by weight."""
    anchors: list[tuple[int, float]] = [(0, 0.0)]
    for index in sorted(known):
        time = min(max(known[index], anchors[-1][1]), duration)
        if index == 0:
            anchors[0] = (0, time)
        else:
            anchors.append((index, time))
    anchors.append((len(words), max(duration, anchors[-1][1])))
    weights = [word_weight(word) for word in words]
    starts = [0.0] * len(words)
    for (left, left_s), (right, right_s) in itertools.pairwise(anchors):
        total = sum(weights[left:right])
        cumulative = 0.0
        for index in range(left, right):
            starts[index] = left_s + (right_s - left_s) * cumulative / total
            cumulative += weights[index]
    return starts
