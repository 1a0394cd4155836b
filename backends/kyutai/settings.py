"""Settings of the `kyutai` backend, the client of Kyutai's TTS server (`KYUTAI_TTS_*`).

`KYUTAI_TTS_URL` is the variable unmute itself reads for its TTS server, with the same
meaning and default (`ws://localhost:8089`). Empty variables count as unset. The API
key is a `SecretStr`: it prints as `**********`.
"""

from __future__ import annotations

import functools
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from unmute.tts.service_settings import WS_SCHEMES, ServiceClientSettings
from unmute.tts.settings import env_var as settings_env_var
from unmute.tts.settings import settings_config
from unmute.tts.websocket_client import STREAMING_PATH

ENV_PREFIX: Final = "KYUTAI_TTS_"
DEFAULT_URL: Final = "ws://localhost:8089"
"""unmute's default TTS server (its `kyutai_constants.TTS_SERVER`)."""
DEFAULT_API_KEY: Final = "public_token"
"""unmute's key for its TTS server (its `kyutai_constants.HEADERS`)."""
CUSTOM_VOICE_PREFIX: Final = "custom:"
"""Voices cloned by unmute: sent as a Voice message of embeddings, not in the query."""


class KyutaiClientSettings(ServiceClientSettings):
    """Where Kyutai's TTS server is, its key, the query unmute sends, and timeouts."""

    model_config = settings_config(ENV_PREFIX, env_ignore_empty=True)
    url_example = "ws://localhost:8089 (Kyutai's TTS server)"
    credentials_hint = "set KYUTAI_TTS_API_KEY instead"

    url: str | None = None
    """The server (KYUTAI_TTS_URL), ws/wss/http/https; unset: `ws://localhost:8089` as
    in unmute. Inside unmute, discovery's instance URL is used instead."""
    api_key: SecretStr | None = SecretStr(DEFAULT_API_KEY)
    """Sent as the `kyutai-api-key` header (KYUTAI_TTS_API_KEY); unmute's is `public_token`."""
    voice: str | None = None
    """Voice when the caller names none (KYUTAI_TTS_VOICE); unset: the server's default."""
    cfg_alpha: float | None = Field(default=1.5, gt=0.0)
    """Classifier-free guidance sent in the query (KYUTAI_TTS_CFG_ALPHA); unmute sends 1.5."""
    ws_connect_timeout_s: float = Field(default=10.0, gt=0.0)
    """One attempt's limit to connect and get Ready (KYUTAI_TTS_WS_CONNECT_TIMEOUT_S)."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return cls.checked_url(value)

    def base_url(self, instance: str | None = None) -> str:
        """The server's ws(s):// URL: `instance` if given, else KYUTAI_TTS_URL or the default."""
        return check_url(instance or self.url or DEFAULT_URL)

    def streaming_url(self, voice: str | None, instance: str | None = None) -> str:
        """The `/api/tts_streaming` URL with unmute's query (as its TtsStreamingQuery)."""
        query: dict[str, object] = {"format": "PcmMessagePack"}
        if voice and not voice.startswith(CUSTOM_VOICE_PREFIX):
            query["voice"] = voice
        if self.cfg_alpha is not None:
            query["cfg_alpha"] = self.cfg_alpha
        params = "&".join(f"{key}={quote(str(value), safe='')}" for key, value in query.items())
        return f"{self.websocket_url(instance)}?{params}"

    def websocket_url(self, instance: str | None = None) -> str:
        """The ws(s)://.../api/tts_streaming URL, without query."""
        parts = urlsplit(self.base_url(instance))
        path = parts.path.rstrip("/")
        if not path.endswith(STREAMING_PATH):
            path += STREAMING_PATH
        return urlunsplit((WS_SCHEMES[parts.scheme.lower()], parts.netloc, path, "", ""))

    def headers(self) -> dict[str, str]:
        """The `kyutai-api-key` header (none when the key is unset). Never log this."""
        if self.api_key is None:
            return {}
        return {"kyutai-api-key": self.api_key.get_secret_value()}


def check_url(value: str) -> str:
    """`value` if it is a ws/wss/http/https URL with a host and no credentials or query."""
    checked = KyutaiClientSettings.checked_url(value)
    if checked is None:
        raise ValueError("must not be empty")
    return checked


env_var = functools.partial(settings_env_var, KyutaiClientSettings)
"""The environment variable that sets a field of KyutaiClientSettings."""


def load_client_settings(**overrides: Any) -> KyutaiClientSettings:
    """Read the settings from the environment; SettingsError names a bad variable and
    never quotes the key or a password inside the URL."""
    return KyutaiClientSettings.load(**overrides)
