"""One phrase spoken by piper, in a worker thread: 24 kHz blocks and each word's time.

`render` runs blocking work only (espeak, onnxruntime, soxr), so a session calls it in
a worker thread and the event loop stays free. Word times come from the model's
alignments (`alignment`); a voice that gives none is timed by the shared estimator
`unmute.tts.word_timer`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from backends.piper.alignment import match_words, phoneme_samples, spoken_words, word_keys
from backends.piper.voices import LoadedVoice
from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.resampling import ResampledBlocks
from unmute.tts.word_timer import TimedWord, create_word_timer

if TYPE_CHECKING:
    from piper import AudioChunk
    from piper.config import SynthesisConfig

logger = logging.getLogger(__name__)

MAX_WORD_CHARS: Final = 100
"""A longer "word" (a pasted blob, a hash) is not spoken: it is timed over silence."""
SILENCE_S: Final = 0.1
"""Audio of a phrase that says nothing (punctuation only, or only unspoken words)."""


@dataclass(frozen=True)
class RenderedWord:
    """A client word and its time, in 24 kHz samples from the start of the phrase."""

    text: str
    start: int
    stop: int


@dataclass(frozen=True)
class Rendered:
    """A phrase's audio (24 kHz blocks) and its words, in order."""

    blocks: list[FloatArray]
    words: list[RenderedWord]

    @property
    def samples(self) -> int:
        """Length of the audio."""
        return sum(len(block) for block in self.blocks)


def render(
    voice: LoadedVoice,
    words: Sequence[str],
    config: SynthesisConfig,
    block_samples: int,
    cancel: threading.Event,
) -> Rendered | None:
    """Speak `words` (blocking); None once `cancel` is set (checked between sentences)."""
    spoken = [word if len(word) <= MAX_WORD_CHARS else "" for word in words]
    text = " ".join(word for word in spoken if word)
    chunks: list[AudioChunk] = []
    if not spoken_words(voice.voice.phonemize(text)):  # punctuation alone: no need to run
        text = ""
    for chunk in voice.voice.synthesize(text, config, include_alignments=voice.alignments):
        if cancel.is_set():
            return None
        chunks.append(chunk)
    if cancel.is_set():
        return None
    if not chunks:
        silence = np.zeros(round(SILENCE_S * SAMPLE_RATE), dtype=np.float32)
        blocks = [silence[i : i + block_samples] for i in range(0, len(silence), block_samples)]
        return Rendered(blocks, [RenderedWord(word, 0, len(silence)) for word in words])
    resampled = ResampledBlocks(voice.sample_rate, block_samples, extra="piper")
    for chunk in chunks:
        resampled.push(np.asarray(chunk.audio_float_array, dtype=np.float32))
    resampled.finish()
    blocks = resampled.take()
    total = sum(len(block) for block in blocks)
    native = _aligned_times(voice, spoken, chunks)
    if native is None:
        logger.debug(
            "piper voice %s gives no phoneme alignments: words timed by the shared estimator",
            voice.files.name,
        )
        return Rendered(blocks, _estimated(words, blocks))
    ratio = resampled.ratio
    timed = [
        RenderedWord(word, min(round(start * ratio), total), min(round(stop * ratio), total))
        for word, (start, stop) in zip(words, native, strict=True)
    ]
    return Rendered(blocks, timed)


def _aligned_times(
    voice: LoadedVoice, spoken: Sequence[str], chunks: Sequence[AudioChunk]
) -> list[tuple[int, int]] | None:
    """(start, stop) of each word in native samples of the phrase, from the alignments;
    None when a sentence has none."""
    id_map = voice.voice.config.phoneme_id_map
    starts: list[int] = []
    lengths: list[int] = []
    offset = 0
    for chunk in chunks:
        if chunk.phoneme_id_samples is None:
            return None
        per = phoneme_samples(chunk.phonemes, id_map, chunk.phoneme_id_samples)
        if per is None:
            return None
        position = offset + per[0]  # the sentence's start marker
        for samples in per[1:]:
            starts.append(position)
            lengths.append(samples)
            position += samples
        offset += len(chunk.audio_float_array)
    end = starts[-1] + lengths[-1] if starts else 0
    keys = [word_keys(voice.word_phonemes(word)) if word else [] for word in spoken]
    spans = match_words(keys, spoken_words([chunk.phonemes for chunk in chunks]), len(starts))
    times: list[tuple[int, int]] = []
    for span in spans:
        start = starts[span.start] if span.start < len(starts) else end
        stop = starts[span.stop - 1] + lengths[span.stop - 1] if span.stop > span.start else start
        times.append((start, max(start, stop)))
    return times


def _estimated(words: Sequence[str], blocks: Sequence[FloatArray]) -> list[RenderedWord]:
    """Times of `words` over the phrase's audio from the shared word-time estimator."""
    timer = create_word_timer()
    timer.begin_piece(list(words))
    timed: list[TimedWord] = []
    for block in blocks:
        timed += timer.push_audio(block)
    timed += timer.end_piece()
    return [
        RenderedWord(word.text, round(word.start_s * SAMPLE_RATE), round(word.stop_s * SAMPLE_RATE))
        for word in timed
    ]
