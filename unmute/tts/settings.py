"""Settings read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """An environment variable holds an invalid value; the message names the variable."""


class TTSSettings(BaseSettings):
    """Library-wide settings (prefix `UNMUTE_`)."""

    model_config = SettingsConfigDict(
        env_prefix="UNMUTE_", env_file=".env", extra="ignore", validate_default=True
    )

    tts_backend: str | None = None
    """Backend name (UNMUTE_TTS_BACKEND); unset picks by the default rule."""
    tts_voice: str | None = None
    """Voice for the chosen backend (UNMUTE_TTS_VOICE); unset uses the backend's default."""
    tts_startup_timeout_s: float = 10.0
    """Budget for start_up (UNMUTE_TTS_STARTUP_TIMEOUT_S), retries included."""


S = TypeVar("S", bound=BaseSettings)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build `cls` from the environment, turning validation errors into SettingsError."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        problems: list[str] = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            variable = f"{prefix}{field.upper()}" if field else prefix.rstrip("_")
            problems.append(f"{variable}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None
