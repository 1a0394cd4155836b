"""Fixtures of the word timer tests."""

from __future__ import annotations

import pytest

from bench.word_timing_corpus import Piece, load_voice, speak_piece
from tests.tts.word_timer.real_speech import SENTENCES


@pytest.fixture(scope="module")
def speech() -> list[Piece]:
    """The sentences spoken by piper, with each word's true start (its alignments)."""
    pytest.importorskip("piper", reason="needs piper-tts (the dev extra)")
    voice = load_voice()
    return [speak_piece(voice, text) for text in SENTENCES]
