"""The Orpheus voices: names, spelling, the error that lists them."""

from __future__ import annotations

import pytest

from orpheus_service.vocabulary.prompt import build_prompt
from orpheus_service.vocabulary.voices import (
    ALL_VOICES,
    ENGLISH_VOICES,
    UnknownVoiceError,
    check_voice,
)


def test_unknown_voice_error_lists_the_voices() -> None:
    with pytest.raises(UnknownVoiceError) as info:
        build_prompt("Hi.", "nobody")
    message = str(info.value)
    assert "nobody" in message
    for voice in ENGLISH_VOICES:
        assert voice in message
    assert "pierre" in message


def test_voice_names_are_case_insensitive() -> None:
    assert check_voice(" Tara ") == "tara"


def test_multilingual_voices_are_accepted() -> None:
    assert build_prompt("Bonjour.", "pierre")[2] == "pierre: Bonjour."
    assert "jana" in ALL_VOICES
    assert "유나" in ALL_VOICES
