"""The `kyutai` backend: unmute's own TTS server (Kyutai TTS on moshi-server).

Inside unmute (`unmute.tts.pluggable` with `UNMUTE_TTS_BACKEND` unset) it is the
default, at the instance unmute's discovery picked. Elsewhere it is chosen by default
when `KYUTAI_TTS_URL` is set (priority 50: below `orpheus`, above `espeak`).
Settings: `backends.kyutai.settings`; the client: `backends.kyutai.client`. Importing
this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec, ServiceRules

if TYPE_CHECKING:
    from backends.kyutai.settings import KyutaiClientSettings

AUTO_PRIORITY: Final = 50


def _create(voice: str | None) -> TextToSpeech:
    from backends.kyutai.client import KyutaiTextToSpeech

    return KyutaiTextToSpeech(voice)


def _create_at(url: str, voice: str | None) -> TextToSpeech:
    from backends.kyutai.client import KyutaiTextToSpeech

    return KyutaiTextToSpeech(voice, url=url)


def _load_settings() -> KyutaiClientSettings:
    from backends.kyutai.settings import load_client_settings

    return load_client_settings()


_rules = ServiceRules(_load_settings, url=lambda settings: settings.url, variable="KYUTAI_TTS_URL")


backend = BackendSpec(
    name="kyutai",
    description="Kyutai TTS on moshi-server, unmute's own TTS server (KYUTAI_TTS_URL)",
    create=_create,
    unavailable_reason=_rules.unavailable_reason,
    auto_select_reason=_rules.auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    create_at=_create_at,
)
