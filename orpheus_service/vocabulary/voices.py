"""The Orpheus voices (standard library only: the light `orpheus` client backend lists them)."""

from __future__ import annotations

DEFAULT_VOICE = "tara"
"""The voice of a request that names none."""

ENGLISH_VOICES: tuple[str, ...] = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")
"""Voices of the English fine-tuned model (tara is the default)."""

MULTILINGUAL_VOICES: dict[str, tuple[str, ...]] = {
    "fr": ("pierre", "amelie", "marie"),
    "de": ("jana", "thomas", "max"),
    "es_it": ("javi", "sergio", "maria", "pietro", "giulia", "carlo"),
    "ko": ("유나", "준서"),
    "hi": ("ऋतिका",),
    "zh": ("长乐", "白芷"),
}
"""Voices of the multilingual research models, by model."""

ALL_VOICES: tuple[str, ...] = ENGLISH_VOICES + tuple(
    voice for voices in MULTILINGUAL_VOICES.values() for voice in voices
)
"""Every voice name the prompt accepts."""


class UnknownVoiceError(ValueError):
    """A voice name that no Orpheus model knows."""


def check_voice(voice: str) -> str:
    """Return the canonical spelling of `voice`, or raise UnknownVoiceError listing voices."""
    name = voice.strip()
    lowered = name.lower()
    if lowered in ALL_VOICES:
        return lowered
    if name in ALL_VOICES:
        return name
    english = ", ".join(ENGLISH_VOICES)
    others = "; ".join(f"{lang}: {', '.join(names)}" for lang, names in MULTILINGUAL_VOICES.items())
    raise UnknownVoiceError(
        f"unknown Orpheus voice {voice!r}; English voices: {english}; multilingual models: {others}"
    )
