"""The `kyutai` backend: unmute's own TTS server (Kyutai TTS on moshi-server).

Inside unmute (`unmute.tts.pluggable` with `UNMUTE_TTS_BACKEND` unset) it is the
default, at the instance unmute's discovery picked. Elsewhere it is chosen by default
when `KYUTAI_TTS_URL` is set (priority 50: below `orpheus`, above `espeak`).
Settings: `backends.kyutai.settings`; the client: `backends.kyutai.client`. Importing
this package is cheap.
"""

from __future__ import annotations

from typing import Final

from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec
from unmute.tts.settings import SettingsError

AUTO_PRIORITY: Final = 50


def _create(voice: str | None) -> TextToSpeech:
    from backends.kyutai.client import KyutaiTextToSpeech

    return KyutaiTextToSpeech(voice)


def _create_at(url: str, voice: str | None) -> TextToSpeech:
    from backends.kyutai.client import KyutaiTextToSpeech

    return KyutaiTextToSpeech(voice, url=url)


def _unavailable_reason() -> str | None:
    from backends.kyutai.settings import load_client_settings

    try:
        load_client_settings()
    except SettingsError as exc:
        return str(exc)
    return None


def _auto_select_reason() -> str | None:
    from backends.kyutai.settings import load_client_settings

    try:
        url = load_client_settings().url
    except SettingsError:
        return None
    return None if url is None else "KYUTAI_TTS_URL is set"


backend = BackendSpec(
    name="kyutai",
    description="Kyutai TTS on moshi-server, unmute's own TTS server (KYUTAI_TTS_URL)",
    create=_create,
    unavailable_reason=_unavailable_reason,
    auto_select_reason=_auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    create_at=_create_at,
)
