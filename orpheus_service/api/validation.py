"""Checks every route makes on a request: the voice to speak with and the input text.

`resolve_voice` is the one place a requested voice name becomes the canonical one
(or the service's default); an unknown name is a 400 `unknown_voice` ApiError.
"""

from __future__ import annotations

from orpheus_service.api.errors import ApiError
from orpheus_service.api.voices import alias_target
from orpheus_service.settings import OrpheusSettings
from orpheus_service.vocabulary.prompt import clean_text
from orpheus_service.vocabulary.voices import UnknownVoiceError, check_voice


def resolve_voice(settings: OrpheusSettings, name: str | None) -> str:
    """The canonical voice name (the default when `name` is None or blank; OpenAI's names
    such as `alloy` map to Orpheus voices), or a 400 ApiError listing the voices."""
    if name is None or not name.strip():
        return settings.default_voice
    alias = alias_target(name)
    if alias is not None:
        return alias
    try:
        return check_voice(name)
    except UnknownVoiceError as exc:
        raise ApiError(400, "unknown_voice", str(exc), param="voice") from None


def check_text(text: str, what: str = "input") -> str:
    """`text` if it is valid Unicode, else a 400 `invalid_text` ApiError naming the
    first lone surrogate (what a JSON escape such as "\\ud800" decodes to) and where."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            400,
            "invalid_text",
            f"{what} is not valid Unicode: a lone surrogate {text[exc.start]!r} at character "
            f"{exc.start}; send UTF-8 text (a surrogate pair only as one escaped pair)",
        ) from None
    return text


def check_input(settings: OrpheusSettings, text: str) -> str:
    """The text to speak, or a 400 ApiError (over the limit, not valid Unicode, or
    empty)."""
    limit = settings.max_input_chars
    if len(text) > limit:
        raise ApiError(
            400,
            "input_too_long",
            f"input is {len(text)} characters long; the limit is {limit} (ORPHEUS_MAX_INPUT_CHARS)",
        )
    check_text(text)
    if not clean_text(text):
        raise ApiError(400, "empty_input", "input is empty: there is nothing to speak")
    return text
