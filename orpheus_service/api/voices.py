"""Which voices go with which Orpheus model, and OpenAI's voice names mapped onto them.

Orpheus models are fine-tuned per language, each with its own voices. The service
serves one GGUF (ORPHEUS_MODEL_NAME); its language is read from the file name
(`...French...` -> fr, and so on; English otherwise). OpenAI clients name voices
such as `alloy`: each maps to an English Orpheus voice of a similar character, as
Kokoro-FastAPI maps them to its own.
"""

from __future__ import annotations

from typing import Any, Final

from orpheus_service.vocabulary.voices import ENGLISH_VOICES, MULTILINGUAL_VOICES

OPENAI_VOICE_ALIASES: Final[dict[str, str]] = {
    "alloy": "tara",
    "ash": "leo",
    "ballad": "dan",
    "coral": "leah",
    "echo": "zac",
    "fable": "dan",
    "nova": "jess",
    "onyx": "leo",
    "sage": "mia",
    "shimmer": "zoe",
    "verse": "zac",
    "marin": "leah",
    "cedar": "leo",
}
"""OpenAI voice name -> Orpheus voice (English model)."""

MODEL_LANGUAGES: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "en": ("English", "canopylabs/orpheus-3b-0.1-ft", ENGLISH_VOICES),
    "fr": ("French", "canopylabs/3b-fr-ft-research_release", MULTILINGUAL_VOICES["fr"]),
    "de": ("German", "canopylabs/3b-de-ft-research_release", MULTILINGUAL_VOICES["de"]),
    "es_it": (
        "Spanish and Italian",
        "canopylabs/3b-es_it-ft-research_release",
        MULTILINGUAL_VOICES["es_it"],
    ),
    "ko": ("Korean", "canopylabs/3b-ko-ft-research_release", MULTILINGUAL_VOICES["ko"]),
    "hi": ("Hindi", "canopylabs/3b-hi-ft-research_release", MULTILINGUAL_VOICES["hi"]),
    "zh": ("Mandarin", "canopylabs/3b-zh-ft-research_release", MULTILINGUAL_VOICES["zh"]),
}
"""Language code -> (language, the model's Hugging Face id, its voices)."""

_NAME_HINTS: Final = (
    ("french", "fr"),
    ("german", "de"),
    ("spanish", "es_it"),
    ("italian", "es_it"),
    ("korean", "ko"),
    ("hindi", "hi"),
    ("mandarin", "zh"),
    ("chinese", "zh"),
)


def served_language(model_name: str) -> str:
    """The language code of the GGUF `model_name` (English unless its name says)."""
    lowered = model_name.lower()
    for hint, code in _NAME_HINTS:
        if hint in lowered:
            return code
    return "en"


def alias_target(name: str) -> str | None:
    """The Orpheus voice an OpenAI voice name maps to, or None."""
    return OPENAI_VOICE_ALIASES.get(name.strip().lower())


def voice_models(model_name: str) -> list[dict[str, Any]]:
    """Every Orpheus model with its voices; the served one first, with `served: true`."""
    served = served_language(model_name)
    models: list[dict[str, Any]] = []
    for code, (language, hub_id, voices) in MODEL_LANGUAGES.items():
        models.append(
            {
                "id": model_name if code == served else hub_id,
                "language": language,
                "language_code": code,
                "voices": list(voices),
                "served": code == served,
            }
        )
    models.sort(key=lambda model: not model["served"])
    return models


def served_voices(model_name: str) -> list[str]:
    """The voices of the served model."""
    return list(MODEL_LANGUAGES[served_language(model_name)][2])
