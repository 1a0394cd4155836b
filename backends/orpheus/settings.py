"""Settings of the `orpheus` backend, the client of the Orpheus service (`ORPHEUS_*`).

Field `fastapi_url` is `ORPHEUS_FASTAPI_URL`, and so on; empty variables count as
unset. The service (`orpheus_service.settings`) reads the same prefix: the names that
both read (`ORPHEUS_API_KEY` and the sampling values) mean the same thing on both
sides, and client-only tuning has names the service does not use.

Secrets (`api_key`, `modal_key`, `modal_secret`) are `SecretStr`: they print as
`**********` and have no validator that could echo them in an error message.
"""

from __future__ import annotations

import functools
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from orpheus_service.vocabulary.sampling import (
    RepetitionPenalty,
    SamplingOverrides,
    Temperature,
    TopP,
)
from unmute.tts.service_settings import WS_SCHEMES, ServiceClientSettings
from unmute.tts.settings import SettingsError, redact, settings_config
from unmute.tts.settings import env_var as settings_env_var
from unmute.tts.websocket_client import STREAMING_PATH

__all__ = ["OrpheusClientSettings", "env_var", "load_client_settings", "redact"]

ENV_PREFIX: Final = "ORPHEUS_"
"""unmute's WebSocket path on the Orpheus service."""
HEALTH_PATH: Final = "/health"
VOICES_PATH: Final = "/v1/audio/voices"
_HTTP_SCHEMES: Final = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class OrpheusClientSettings(ServiceClientSettings):
    """Where the Orpheus service is, how to authenticate, sample and retry."""

    model_config = settings_config(ENV_PREFIX, env_ignore_empty=True)
    url_example = "http://127.0.0.1:8000 (the Orpheus service)"
    credentials_hint = "set ORPHEUS_API_KEY or ORPHEUS_MODAL_KEY/ORPHEUS_MODAL_SECRET instead"
    secret_fields = ("api_key", "modal_key", "modal_secret")

    fastapi_url: str | None = None
    """The service (ORPHEUS_FASTAPI_URL): http, https, ws or wss; a base URL such as
    `https://me--orpheus-tts.modal.run`, or the full `.../api/tts_streaming` URL."""
    voice: str | None = None
    """Voice when the caller names none (ORPHEUS_VOICE); unset: the service's default."""
    temperature: Temperature | None = None
    """Sampling temperature sent to the service (ORPHEUS_TEMPERATURE); unset: its default."""
    top_p: TopP | None = None
    """Nucleus sampling mass sent to the service (ORPHEUS_TOP_P); unset: its default."""
    repetition_penalty: RepetitionPenalty | None = None
    """Repetition penalty sent to the service (ORPHEUS_REPETITION_PENALTY); unset: its default."""
    api_key: SecretStr | None = None
    """The service's key (ORPHEUS_API_KEY), sent as `Authorization: Bearer` and
    `kyutai-api-key`; unset sends neither."""
    modal_key: SecretStr | None = None
    """Modal proxy-auth token id (ORPHEUS_MODAL_KEY), sent as the `Modal-Key` header."""
    modal_secret: SecretStr | None = None
    """Modal proxy-auth token secret (ORPHEUS_MODAL_SECRET), sent as `Modal-Secret`."""
    ws_connect_timeout_s: float = Field(default=10.0, gt=0.0)
    """One attempt's limit to connect and get Ready (ORPHEUS_WS_CONNECT_TIMEOUT_S);
    a timed-out attempt is retried while the budget lasts."""
    prewarm_timeout_s: float = Field(default=120.0, gt=0.0)
    """How long `prewarm` polls GET /health for (ORPHEUS_PREWARM_TIMEOUT_S)."""

    @field_validator("fastapi_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return cls.checked_url(value)

    # -- derived values --------------------------------------------------------------

    def _base(self) -> tuple[str, str, str]:
        """(scheme, netloc, base path without a trailing / or the streaming path)."""
        if self.fastapi_url is None:
            raise SettingsError(f"{env_var('fastapi_url')} is not set")
        parts = urlsplit(self.fastapi_url)
        path = parts.path.rstrip("/")
        if path.endswith(STREAMING_PATH):
            path = path[: -len(STREAMING_PATH)]
        return parts.scheme.lower(), parts.netloc, path

    @property
    def websocket_url(self) -> str:
        """The ws(s)://.../api/tts_streaming URL, without query."""
        scheme, netloc, path = self._base()
        return urlunsplit((WS_SCHEMES[scheme], netloc, path + STREAMING_PATH, "", ""))

    @property
    def health_url(self) -> str:
        """The http(s)://.../health URL."""
        scheme, netloc, path = self._base()
        return urlunsplit((_HTTP_SCHEMES[scheme], netloc, path + HEALTH_PATH, "", ""))

    @property
    def voices_url(self) -> str:
        """The http(s)://.../v1/audio/voices URL (the service's voice list)."""
        scheme, netloc, path = self._base()
        return urlunsplit((_HTTP_SCHEMES[scheme], netloc, path + VOICES_PATH, "", ""))

    def streaming_url(self, voice: str | None) -> str:
        """The WebSocket URL with unmute's query and the sampling overrides."""
        query: dict[str, str] = {"format": "PcmMessagePack"}
        if voice:
            query["voice"] = voice
        for name in SamplingOverrides.model_fields:
            value: float | None = getattr(self, name)
            if value is not None:
                query[name] = repr(value)
        return f"{self.websocket_url}?{urlencode(query)}"

    def headers(self) -> dict[str, str]:
        """Request headers with the credentials that are set. Never log these."""
        headers: dict[str, str] = {}
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
            headers["Authorization"] = f"Bearer {key}"
            headers["kyutai-api-key"] = key
        if self.modal_key is not None and self.modal_secret is not None:
            headers["Modal-Key"] = self.modal_key.get_secret_value()
            headers["Modal-Secret"] = self.modal_secret.get_secret_value()
        return headers

    def check(self) -> None:
        """Raise SettingsError when the service cannot be used with these settings."""
        if self.fastapi_url is None:
            raise SettingsError(f"{env_var('fastapi_url')} is not set")
        if (self.modal_key is None) != (self.modal_secret is None):
            given, missing = (
                ("modal_key", "modal_secret") if self.modal_key else ("modal_secret", "modal_key")
            )
            raise SettingsError(
                f"{env_var(given)} is set but {env_var(missing)} is not: Modal proxy auth "
                "needs both"
            )


env_var = functools.partial(settings_env_var, OrpheusClientSettings)
"""The environment variable that sets a field of OrpheusClientSettings."""


def load_client_settings(**overrides: Any) -> OrpheusClientSettings:
    """Read the settings from the environment; SettingsError names a bad variable.

    Like `unmute.tts.settings.load_settings`, but the value quoted in the message never
    shows a secret (a password inside the URL is masked).
    """
    return OrpheusClientSettings.load(**overrides)
