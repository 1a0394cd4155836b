"""What every client of a remote TTS service configures the same way.

`ServiceClientSettings` is the base of the settings of the `kyutai`, `orpheus` and
`openai` backends: the service's key (a `SecretStr`: it prints as `**********`, is
never quoted in a settings error and is masked in messages), the start-up budget and
backoffs (one `RetryPolicy`), and the stall timeout. `check_service_url` is the one
URL check of a service setting: a scheme the client speaks, a host, no credentials
and no query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from unmute.tts.base import RetryPolicy
from unmute.tts.settings import TTSSettings, load_settings, redact

WS_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
"""URL schemes a WebSocket service URL may have, and the WebSocket scheme each stands for."""
HTTP_SCHEMES: Final = {"http": "http", "https": "https"}
"""URL schemes an HTTP service URL may have."""


def check_service_url(
    value: str,
    *,
    example: str,
    credentials_hint: str,
    schemes: Mapping[str, str] = WS_SCHEMES,
) -> str:
    """`value` if its scheme is one of `schemes` and it has a host, no credentials and
    no query.

    The ValueError names what is wrong: `example` is a URL of the right kind,
    `credentials_hint` says where credentials go instead."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        names = [f"{scheme}://" for scheme in schemes]
        allowed = " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
        raise ValueError(f"must be an {allowed} URL such as {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"must not hold credentials; {credentials_hint}")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value


class ServiceClientSettings(BaseSettings):
    """Key, start-up retries and stall timeout of a service client (a subclass sets the
    prefix, the URL field and the class variables below)."""

    url_example: ClassVar[str] = "http://127.0.0.1:8000"
    """A URL of the right kind, for the URL check's message."""
    credentials_hint: ClassVar[str] = "set the API key variable instead"
    """Where credentials go instead of the URL, for the URL check's message."""
    url_schemes: ClassVar[Mapping[str, str]] = WS_SCHEMES
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    """Fields never quoted in a settings error, masked in messages."""

    api_key: SecretStr | None = None
    """The service's key; unset sends none. Never logged or shown."""
    startup_budget_s: float | None = Field(default=None, gt=0.0)
    """Time start-up may take, retries included; unset: UNMUTE_TTS_STARTUP_TIMEOUT_S."""
    retry_initial_backoff_s: float = Field(default=0.1, gt=0.0)
    """First wait between start-up attempts; it doubles each time."""
    retry_max_backoff_s: float = Field(default=2.0, gt=0.0)
    """Longest wait between start-up attempts."""
    stall_timeout_s: float = Field(default=10.0, gt=0.0)
    """Longest silence of the service while audio is still owed; the stream then ends
    with an Error."""

    @classmethod
    def checked_url(cls, value: str | None) -> str | None:
        """None for an unset or blank URL, else the URL once `check_service_url` passed."""
        if value is None or not value.strip():
            return None
        return check_service_url(
            value.strip(),
            example=cls.url_example,
            credentials_hint=cls.credentials_hint,
            schemes=cls.url_schemes,
        )

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Read the settings from the environment; SettingsError names a bad variable and
        never quotes a secret or a password inside a URL."""
        return load_settings(cls, secret=cls.secret_fields, **overrides)

    def secrets(self) -> list[str]:
        """The secret values that are set (for redaction)."""
        values: list[str] = []
        for name in self.secret_fields:
            field: SecretStr | None = getattr(self, name)
            if field is not None and field.get_secret_value():
                values.append(field.get_secret_value())
        return values

    def redact(self, text: str) -> str:
        """`text` with every secret value masked."""
        return redact(text, self.secrets())

    def retry_policy(self) -> RetryPolicy:
        """The start-up retry policy (budget from UNMUTE_TTS_STARTUP_TIMEOUT_S if unset)."""
        budget = self.startup_budget_s
        if budget is None:
            budget = load_settings(TTSSettings).tts_startup_timeout_s
        return RetryPolicy(
            budget_s=budget,
            initial_backoff_s=self.retry_initial_backoff_s,
            max_backoff_s=max(self.retry_max_backoff_s, self.retry_initial_backoff_s),
        )
