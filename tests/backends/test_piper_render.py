"""render: one phrase spoken by the bundled piper voice into 24 kHz blocks of at most
the size asked, each word timed inside the audio, in order; a phrase that says nothing
is a short silence; a cancelled render gives nothing."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from backends.piper.render import MAX_WORD_CHARS, SILENCE_S, Rendered, render
from tests.support.piper_session import needs_piper
from unmute.tts.protocol import SAMPLE_RATE

pytestmark = needs_piper

BLOCK = SAMPLE_RATE // 20


@pytest.fixture(scope="module")
def voice() -> Any:
    from backends.piper.settings import BUNDLED_VOICE, PiperSettings
    from backends.piper.voices import find_voice, load_voice

    return load_voice(find_voice(BUNDLED_VOICE, PiperSettings()))


def speak(voice: Any, words: list[str], cancel: threading.Event | None = None) -> Rendered | None:
    from piper.config import SynthesisConfig

    return render(voice, words, SynthesisConfig(), BLOCK, cancel or threading.Event())


def test_a_phrase_comes_in_blocks_with_each_word_timed_in_order_inside_it(voice: Any) -> None:
    words = ["Hello", "there,", "my", "friend."]
    rendered = speak(voice, words)
    assert rendered is not None
    assert all(0 < len(block) <= BLOCK for block in rendered.blocks)
    assert all(block.dtype == np.float32 for block in rendered.blocks)
    assert [w.text for w in rendered.words] == words
    starts = [w.start for w in rendered.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(w.start <= w.stop <= rendered.samples for w in rendered.words)


def test_a_phrase_of_punctuation_alone_is_a_short_silence_spanned_by_its_words(
    voice: Any,
) -> None:
    rendered = speak(voice, [".", ","])
    assert rendered is not None
    assert rendered.samples == round(SILENCE_S * SAMPLE_RATE)
    assert not np.concatenate(rendered.blocks).any()
    assert [(w.start, w.stop) for w in rendered.words] == [(0, rendered.samples)] * 2


def test_an_overlong_word_is_not_spoken_it_lasts_no_time_where_the_next_starts(
    voice: Any,
) -> None:
    blob = "x" * (MAX_WORD_CHARS + 1)
    rendered = speak(voice, ["Hi", blob, "there."])
    assert rendered is not None
    hi, skipped, there = rendered.words
    assert skipped.text == blob
    assert hi.stop <= skipped.start == skipped.stop == there.start


def test_a_cancelled_render_gives_nothing(voice: Any) -> None:
    cancel = threading.Event()
    cancel.set()
    assert speak(voice, ["Hello."], cancel) is None
