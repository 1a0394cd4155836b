"""`KyutaiTextToSpeech`: unmute's own TTS server (Kyutai TTS on moshi-server).

The protocol client is `unmute.tts.websocket_client.UnmuteProtocolTextToSpeech`, the
one the `orpheus` backend uses too, configured as unmute's own client connects:
`<url>/api/tts_streaming?format=PcmMessagePack&voice=...&cfg_alpha=1.5`, the key in
the `kyutai-api-key` header. moshi-server sends an Error before Ready only when every
channel is busy ("no free channels"): that is a capacity refusal, which unmute's
discovery answers by trying another instance. A `custom:` voice (cloned by unmute)
is not put in the query: its embeddings, from unmute's `voice_embeddings_cache`, are
sent as the first frame, as unmute does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from backends.kyutai.settings import (
    CUSTOM_VOICE_PREFIX,
    KyutaiClientSettings,
    env_var,
    load_client_settings,
)
from unmute.tts import upstream
from unmute.tts.base import BackendError, RetryPolicy
from unmute.tts.websocket_client import ServiceConfig, UnmuteProtocolTextToSpeech

logger = logging.getLogger(__name__)


class KyutaiTextToSpeech(UnmuteProtocolTextToSpeech):
    """Streams words to Kyutai's TTS server and yields its audio and word timings."""

    backend_name: ClassVar[str] = "kyutai"

    def __init__(
        self,
        voice: str | None = None,
        *,
        url: str | None = None,
        settings: KyutaiClientSettings | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        settings = settings if settings is not None else load_client_settings()
        voice = voice or settings.voice
        custom = voice is not None and voice.startswith(CUSTOM_VOICE_PREFIX)
        if custom and upstream.module(upstream.VOICE_CLONING) is None:
            raise BackendError(
                f"kyutai: the custom voice {voice!r} needs unmute's voice cache "
                f"({upstream.VOICE_CLONING}), which is not importable here: run inside "
                "unmute, or use a named voice"
            )
        config = ServiceConfig(
            service="the Kyutai TTS server",
            url=settings.streaming_url(voice, url),
            shown_url=settings.websocket_url(url),
            url_setting=env_var("url"),
            headers=settings.headers(),
            secrets=settings.secrets(),
            connect_timeout_s=settings.ws_connect_timeout_s,
            connect_timeout_setting=env_var("ws_connect_timeout_s"),
            stall_timeout_s=settings.stall_timeout_s,
            stall_timeout_setting=env_var("stall_timeout_s"),
            auth_hint=f"check {env_var('api_key')}",
            any_error_before_ready_is_capacity=True,
            first_frames=self._voice_frames,
        )
        super().__init__(voice, config=config, retry=retry or settings.retry_policy())
        self.settings = settings

    def _voice_frames(self) -> Sequence[bytes]:
        """The custom voice's embeddings frame from unmute's cache, if there is one."""
        voice = self.voice
        if voice is None or not voice.startswith(CUSTOM_VOICE_PREFIX):
            return ()
        cache = getattr(upstream.module(upstream.VOICE_CLONING), "voice_embeddings_cache", None)
        embedding: object = None if cache is None else cache.get(voice)
        if not isinstance(embedding, bytes | bytearray):
            logger.warning("Custom voice %s not found, not sending it to TTS", voice)
            return ()
        return (bytes(embedding),)
