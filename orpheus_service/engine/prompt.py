"""The Orpheus prompt, its control token ids, and the voices.

Orpheus was trained on `[start_of_human, BOS, *tokenize("voice: text"), eot_id,
end_of_human, start_of_ai, start_of_speech]`, after which the model writes audio
tokens and ends with end_of_speech.

llama-server's native `/completion` endpoint accepts a prompt that mixes token ids
and strings. It adds BOS only when the first element is a string; our prompt starts
with an id, so it adds none and we write BOS ourselves, exactly once. Strings are
tokenized with special-token parsing on, so user text is stripped of anything that
looks like a special token (`<|eot_id|>`, `<custom_token_5>`) before it goes in.
Emotion tags such as `<laugh>` are ordinary text to Orpheus and pass through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# Llama-3 control tokens.
BEGIN_OF_TEXT = 128000
EOT_ID = 128009

# Orpheus control tokens: `<custom_token_N>` has id CUSTOM_TOKEN_BASE + N.
CUSTOM_TOKEN_BASE = 128256
START_OF_SPEECH = 128257
END_OF_SPEECH = 128258
START_OF_HUMAN = 128259
END_OF_HUMAN = 128260
START_OF_AI = 128261
END_OF_AI = 128262

# Audio tokens: `<custom_token_10>` onwards, 7 slots of 4096 codes each.
AUDIO_TOKEN_OFFSET = 10
AUDIO_TOKEN_BASE = CUSTOM_TOKEN_BASE + AUDIO_TOKEN_OFFSET
CODEBOOK_SIZE = 4096
SLOTS_PER_FRAME = 7
AUDIO_TOKEN_END = AUDIO_TOKEN_BASE + SLOTS_PER_FRAME * CODEBOOK_SIZE
"""One past the last audio token id (`<custom_token_28681>` is the last one)."""

PROMPT_PREFIX: tuple[int, ...] = (START_OF_HUMAN, BEGIN_OF_TEXT)
PROMPT_SUFFIX: tuple[int, ...] = (EOT_ID, END_OF_HUMAN, START_OF_AI, START_OF_SPEECH)

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

PromptPart = int | str
"""One element of a mixed prompt: a token id or a string llama-server tokenizes."""

_SPECIAL_TOKEN_TEXT = re.compile(r"<\|[^<>|]*\|>|<custom_token_\d+>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


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


def clean_text(text: str) -> str:
    """Collapse whitespace and remove special-token spellings from user text."""
    text = _SPECIAL_TOKEN_TEXT.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def _speaker_text(text: str, voice: str) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise ValueError("nothing to speak: the text is empty")
    return f"{check_voice(voice)}: {cleaned}"


def build_prompt(text: str, voice: str = "tara") -> list[PromptPart]:
    """The mixed prompt for llama-server's `/completion`: ids around one text string.

    `[128259, 128000, "tara: TEXT", 128009, 128260, 128261, 128257]`.
    """
    return [*PROMPT_PREFIX, _speaker_text(text, voice), *PROMPT_SUFFIX]


def build_prompt_ids(text: str, voice: str, tokenize: Callable[[str], Sequence[int]]) -> list[int]:
    """The prompt as token ids; `tokenize` must not add BOS or parse special tokens."""
    ids = list(tokenize(_speaker_text(text, voice)))
    if ids[:1] == [BEGIN_OF_TEXT]:
        raise ValueError("tokenize() added BOS; the prompt writes it itself")
    return [*PROMPT_PREFIX, *ids, *PROMPT_SUFFIX]


def build_prompt_text(text: str, voice: str = "tara") -> str:
    """The prompt as one string, for servers that parse special tokens in text."""
    return (
        f"<custom_token_{START_OF_HUMAN - CUSTOM_TOKEN_BASE}><|begin_of_text|>"
        f"{_speaker_text(text, voice)}<|eot_id|>"
        f"<custom_token_{END_OF_HUMAN - CUSTOM_TOKEN_BASE}>"
        f"<custom_token_{START_OF_AI - CUSTOM_TOKEN_BASE}>"
        f"<custom_token_{START_OF_SPEECH - CUSTOM_TOKEN_BASE}>"
    )
