"""libespeak-ng through ctypes: voices, and synthesis with word events."""

from __future__ import annotations

import importlib.util
import threading

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None,
    reason="needs the espeak extra: pip install -e '.[espeak]'",
)


def test_the_default_voice_resolves_and_is_listed() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine

    espeak = EspeakEngine.get()
    voice = espeak.resolve_voice(None)
    assert voice in espeak.voices()


def test_a_voice_with_a_variant_resolves_to_its_canonical_name() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine

    espeak = EspeakEngine.get()
    variant = espeak.variants()[0]
    assert espeak.resolve_voice(f"EN-US+{variant}").lower() == f"en-us+{variant}".lower()


def test_an_unknown_voice_names_some_available_ones() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine, UnknownVoiceError

    with pytest.raises(UnknownVoiceError, match=r"unknown espeak voice 'xx-nowhere'.*en-us"):
        EspeakEngine.get().resolve_voice("xx-nowhere")


def test_synthesis_gives_audio_and_one_event_per_word_in_order() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine
    from unmute.tts.espeak_ng.stream import SynthChunk

    espeak = EspeakEngine.get()
    chunks: list[SynthChunk] = []
    text = "one two three"
    result = espeak.synthesize(text, espeak.resolve_voice(None), chunks.append)
    assert not result.aborted
    assert result.samples == sum(len(c.samples) for c in chunks) > 0
    words = [w for c in chunks for w in c.words]
    assert [text[w.char_index : w.char_index + w.char_length] for w in words] == text.split()
    assert [w.sample for w in words] == sorted(w.sample for w in words)


def test_a_cancelled_synthesis_stops_and_says_so() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine

    espeak = EspeakEngine.get()
    cancel = threading.Event()
    cancel.set()
    result = espeak.synthesize(
        "never spoken", espeak.resolve_voice(None), lambda _: None, cancel=cancel
    )
    assert result.aborted and result.samples == 0
