"""`OrpheusTextToSpeech`: unmute's TTS client for the Orpheus service, over WebSocket.

The protocol client is `unmute.tts.websocket_client.UnmuteProtocolTextToSpeech`, the
one the `kyutai` backend uses too; this module only configures it from the
`ORPHEUS_*` settings: the service URL with the voice and sampling overrides in its
query, `Authorization: Bearer` / `kyutai-api-key` and Modal proxy-auth headers, the
retry budget (a Modal cold start needs tens of seconds), the connect and stall
timeouts. An Error before Ready is a capacity refusal only when it says so ("no free
channels"); any other (an unknown voice) fails at once.
"""

from __future__ import annotations

from typing import ClassVar

from backends.orpheus.settings import OrpheusClientSettings, env_var, load_client_settings
from unmute.tts.base import RetryPolicy
from unmute.tts.websocket_client import (
    ServiceAuthError,
    ServiceConfig,
    UnmuteProtocolTextToSpeech,
)

OrpheusAuthError = ServiceAuthError
"""The service refused the credentials (HTTP 401/403)."""


def _auth_hint(settings: OrpheusClientSettings) -> str:
    if settings.api_key is None and settings.modal_key is None:
        return (
            f"the service needs credentials: set {env_var('api_key')} (and "
            f"{env_var('modal_key')}/{env_var('modal_secret')} for a Modal deployment with "
            "proxy auth)"
        )
    names = [env_var("api_key")] if settings.api_key is not None else []
    if settings.modal_key is not None:
        names.append(f"{env_var('modal_key')}/{env_var('modal_secret')}")
    return f"check {' and '.join(names)}"


def service_config(settings: OrpheusClientSettings, voice: str | None) -> ServiceConfig:
    """The protocol client's configuration for the Orpheus service."""
    return ServiceConfig(
        service="the Orpheus service",
        url=settings.streaming_url(voice),
        shown_url=settings.websocket_url,
        url_setting=env_var("fastapi_url"),
        headers=settings.headers(),
        secrets=settings.secrets(),
        connect_timeout_s=settings.ws_connect_timeout_s,
        connect_timeout_setting=env_var("ws_connect_timeout_s"),
        stall_timeout_s=settings.stall_timeout_s,
        stall_timeout_setting=env_var("stall_timeout_s"),
        auth_hint=_auth_hint(settings),
        not_found_hint=f"check {env_var('fastapi_url')} (is the Modal app deployed?)",
    )


class OrpheusTextToSpeech(UnmuteProtocolTextToSpeech):
    """Streams words to the Orpheus service and yields its audio and word timings."""

    backend_name: ClassVar[str] = "orpheus"

    def __init__(
        self,
        voice: str | None = None,
        *,
        settings: OrpheusClientSettings | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        settings = settings if settings is not None else load_client_settings()
        settings.check()
        voice = voice or settings.voice
        super().__init__(
            voice, config=service_config(settings, voice), retry=retry or settings.retry_policy()
        )
        self.settings = settings
