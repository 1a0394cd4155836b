"""EspeakDtwWordTimer on real speech (piper's voice): it finds the words' starts, and
decides most of them while the piece is still coming."""

from __future__ import annotations

import numpy as np

from bench.word_timing_corpus import Piece
from tests.tts.word_timer.real_speech import CHUNK, feed
from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer.aligner import EspeakDtwWordTimer


def test_the_aligner_decides_most_words_before_the_piece_ends(speech: list[Piece]) -> None:
    piece = speech[2]
    timer = EspeakDtwWordTimer("en-us")
    timer.begin_piece(piece.words)
    early = [
        w
        for at in range(0, len(piece.pcm), CHUNK)
        for w in timer.push_audio(piece.pcm[at : at + CHUNK])
    ]
    timer.end_piece()
    assert len(early) >= len(piece.words) - 3


def test_the_aligner_finds_word_starts_in_real_speech(speech: list[Piece]) -> None:
    timer = EspeakDtwWordTimer("en-us")
    errors: list[float] = []
    offset = 0.0
    for piece in speech:
        words = feed(timer, piece.words, piece.pcm)
        errors += [abs(w.start_s - offset - t) for w, t in zip(words, piece.starts_s, strict=True)]
        offset += len(piece.pcm) / SAMPLE_RATE
    assert float(np.median(errors)) < 0.06
    assert float(np.percentile(errors, 90)) < 0.2
