"""The aligner's reference: a piece's words spoken by libespeak-ng at 24 kHz, every word
given a start in that audio, in order, punctuation and all; no words, no audio."""

from __future__ import annotations

import importlib.util

import pytest

from unmute.tts.protocol import SAMPLE_RATE

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None,
    reason="needs the espeak extra: pip install -e '.[espeak]'",
)


def test_every_word_gets_a_start_in_order_inside_the_audio() -> None:
    from unmute.tts.word_timer.reference import speak_reference

    words = ["Well,", "—", "one", "two", "three."]
    reference = speak_reference(words, "en-us")
    seconds = len(reference.pcm) / SAMPLE_RATE
    assert seconds > 0.5
    assert len(reference.starts_s) == len(words)
    assert reference.starts_s == sorted(reference.starts_s)
    assert reference.starts_s[0] >= 0.0 and reference.starts_s[-1] < seconds


def test_words_that_say_nothing_give_no_audio() -> None:
    from unmute.tts.word_timer.reference import speak_reference

    reference = speak_reference(["", " "], "en-us")
    assert len(reference.pcm) == 0
    assert reference.starts_s == [0.0, 0.0]
