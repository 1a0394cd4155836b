"""The voices of an OpenAI-compatible server, read from `/v1/audio/voices` in any of the
shapes servers answer with, else OpenAI's fixed list.

Shapes: Kokoro-FastAPI and the Orpheus service `{"voices": ["af_heart", ...]}`,
speaches and others `{"voices": [{"id" | "voice_id" | "name": ...}, ...]}`,
Orpheus-FastAPI `{"status": "ok", "voices": ["tara", ...]}`, or a bare list.
"""

from __future__ import annotations

import logging
from typing import Any, Final, cast

from backends.openai_compat.framing import json_object
from backends.openai_compat.settings import OpenAITTSSettings

logger = logging.getLogger(__name__)

OPENAI_VOICES: Final = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
"""OpenAI's built-in voices (it has no endpoint listing them)."""
_NAME_KEYS: Final = ("id", "voice_id", "name", "voice")


def parse_voices(answer: Any) -> list[str]:
    """Voice names from a voices answer of any known shape (empty if none is found)."""
    items: Any = answer
    found = json_object(answer)
    if found is not None:
        items = found.get("voices", found.get("data", []))
    if not isinstance(items, list):
        return []
    names: list[str] = []
    for item in cast(list[Any], items):
        entry = json_object(item)
        if isinstance(item, str):
            names.append(item)
        elif entry is not None:
            for key in _NAME_KEYS:
                value = entry.get(key)
                if isinstance(value, str) and value:
                    names.append(value)
                    break
    return list(dict.fromkeys(names))


def list_voices(settings: OpenAITTSSettings) -> list[str]:
    """The server's voices; OpenAI's list for OpenAI itself or when the server lists none."""
    if settings.base_url is None:
        return list(OPENAI_VOICES)
    import httpx

    try:
        response = httpx.get(
            settings.voices_url, headers=settings.headers(), timeout=settings.connect_timeout_s
        )
        response.raise_for_status()
        voices = parse_voices(response.json())
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning(
            "openai: cannot list voices at %s (%s); showing OpenAI's voices",
            settings.voices_url,
            settings.redact(str(exc)),
        )
        return list(OPENAI_VOICES)
    return voices or list(OPENAI_VOICES)
