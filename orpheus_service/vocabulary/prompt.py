"""The Orpheus prompt.

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

from orpheus_service.vocabulary.tokens import (
    BEGIN_OF_TEXT,
    CUSTOM_TOKEN_BASE,
    END_OF_HUMAN,
    EOT_ID,
    START_OF_AI,
    START_OF_HUMAN,
    START_OF_SPEECH,
)
from orpheus_service.vocabulary.voices import DEFAULT_VOICE, check_voice

PROMPT_PREFIX: tuple[int, ...] = (START_OF_HUMAN, BEGIN_OF_TEXT)
PROMPT_SUFFIX: tuple[int, ...] = (EOT_ID, END_OF_HUMAN, START_OF_AI, START_OF_SPEECH)

PromptPart = int | str
"""One element of a mixed prompt: a token id or a string llama-server tokenizes."""

_SPECIAL_TOKEN_TEXT = re.compile(r"<\|[^<>|]*\|>|<custom_token_\d+>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Collapse whitespace and remove special-token spellings from user text."""
    text = _SPECIAL_TOKEN_TEXT.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def _speaker_text(text: str, voice: str) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise ValueError("nothing to speak: the text is empty")
    return f"{check_voice(voice)}: {cleaned}"


def build_prompt(text: str, voice: str = DEFAULT_VOICE) -> list[PromptPart]:
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


def build_prompt_text(text: str, voice: str = DEFAULT_VOICE) -> str:
    """The prompt as one string, for servers that parse special tokens in text."""
    return (
        f"<custom_token_{START_OF_HUMAN - CUSTOM_TOKEN_BASE}><|begin_of_text|>"
        f"{_speaker_text(text, voice)}<|eot_id|>"
        f"<custom_token_{END_OF_HUMAN - CUSTOM_TOKEN_BASE}>"
        f"<custom_token_{START_OF_AI - CUSTOM_TOKEN_BASE}>"
        f"<custom_token_{START_OF_SPEECH - CUSTOM_TOKEN_BASE}>"
    )
