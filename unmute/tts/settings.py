"""Settings read from the environment and `.env` (pydantic-settings).

`load_settings` is the one accessor: it reads each settings class once per process and
hands back the same object after; `reset_settings` forgets them (tests call it, through
an autouse fixture, before each test and after changing the environment).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """An environment variable holds an invalid value; the message names the variable."""


def settings_config(env_prefix: str, **options: Any) -> SettingsConfigDict:
    """The model_config of every settings class here: variables named `env_prefix` +
    FIELD, read from the environment and `.env`, unknown ones ignored, defaults
    validated; `options` adds pydantic-settings options."""
    return SettingsConfigDict(
        env_prefix=env_prefix, env_file=".env", extra="ignore", validate_default=True, **options
    )


class TTSSettings(BaseSettings):
    """Library-wide settings (prefix `UNMUTE_`)."""

    model_config = settings_config("UNMUTE_")

    tts_backend: str | None = None
    """Backend name (UNMUTE_TTS_BACKEND), or a fallback chain of names separated by commas
    (`orpheus,espeak`: the first that speaks before its deadline); unset picks by the
    default rule."""
    tts_voice: str | None = None
    """Voice for the chosen backend (UNMUTE_TTS_VOICE), the first of a chain; unset uses the
    backend's default."""
    tts_startup_timeout_s: float = 10.0
    """Budget for start_up (UNMUTE_TTS_STARTUP_TIMEOUT_S), retries included."""
    tts_fallback_first_audio_s: float = Field(default=1.0, gt=0.0)
    """A chain moves to its next backend when the current one has no audio this long after
    the first word (UNMUTE_TTS_FALLBACK_FIRST_AUDIO_S); the last one is never cut."""
    tts_fallback_probe_interval_s: float = Field(default=5.0, gt=0.0)
    """A chain's backend marked unavailable is probed (one word) at most this often
    (UNMUTE_TTS_FALLBACK_PROBE_INTERVAL_S) until it speaks again."""
    tts_fallback_probe_timeout_s: float = Field(default=10.0, gt=0.0)
    """Longest a probe may take (UNMUTE_TTS_FALLBACK_PROBE_TIMEOUT_S), start-up included."""


S = TypeVar("S", bound=BaseSettings)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def env_var(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets `field` of `cls` (its `env_prefix` + FIELD)."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    return f"{prefix}{field.upper()}" if field else prefix.rstrip("_")


def _masked_url(value: object) -> object:
    """`value`, with any password inside a URL replaced by `***`."""
    if not isinstance(value, str):
        return value
    try:
        password = urlsplit(value).password
    except ValueError:
        return value
    if password is None:
        return value
    return value.replace(f":{password}@", ":***@", 1)


_cache: dict[type[BaseSettings], BaseSettings] = {}
_cache_lock = threading.Lock()


def reset_settings() -> None:
    """Forget every settings object read so far: the next `load_settings` reads the
    environment again (for tests that change it)."""
    with _cache_lock:
        _cache.clear()


def load_settings(cls: type[S], *, secret: Collection[str] = (), **overrides: Any) -> S:
    """`cls` read from the environment once per process (the same object after), turning
    validation errors into SettingsError.

    With `overrides`, a new object with those fields set, neither cached nor taken from
    the cache. An invalid environment is not cached: each call raises again. The message
    names each bad variable and quotes its value, except for the fields named in `secret`
    (shown as "a hidden value"); a password inside a URL is masked.
    """
    if overrides:
        return _read_settings(cls, secret, overrides)
    with _cache_lock:
        cached = _cache.get(cls)
    if isinstance(cached, cls):
        return cached
    settings = _read_settings(cls, secret, {})
    with _cache_lock:
        _cache.setdefault(cls, settings)
        found = _cache[cls]
    return found if isinstance(found, cls) else settings


def _read_settings(cls: type[S], secret: Collection[str], overrides: dict[str, Any]) -> S:
    """`cls(**overrides)`, with validation errors turned into SettingsError."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            shown = "a hidden value" if field in secret else repr(_masked_url(error.get("input")))
            problems.append(f"{env_var(cls, field)}: {error['msg']} (got {shown})")
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None
