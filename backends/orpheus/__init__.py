"""The `orpheus` backend: speaks through the Orpheus service (`unmute-tts serve`, Modal).

Usable once `ORPHEUS_FASTAPI_URL` is set, and then chosen by default (priority 100,
above espeak). Settings: `backends.orpheus.settings`; the client:
`backends.orpheus.client` (not `backend.py`: importing a submodule of that name would
replace this package's `backend` attribute, the entry point). Importing this package
is cheap: websockets and msgpack load on first use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec, ServiceRules
from unmute.tts.settings import SettingsError

if TYPE_CHECKING:
    from backends.orpheus.settings import OrpheusClientSettings

logger = logging.getLogger(__name__)

VOICES: Final = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")
"""Orpheus's English voices (the service may know more, e.g. multilingual ones)."""
AUTO_PRIORITY: Final = 100


def _create(voice: str | None) -> TextToSpeech:
    from backends.orpheus.client import OrpheusTextToSpeech

    return OrpheusTextToSpeech(voice)


def _load_settings() -> OrpheusClientSettings:
    from backends.orpheus.settings import load_client_settings

    return load_client_settings()


_rules = ServiceRules(
    _load_settings,
    url=lambda settings: settings.fastapi_url,
    variable="ORPHEUS_FASTAPI_URL",
    usable=lambda settings: settings.check(),
)


def _voices() -> list[str]:
    return list(VOICES)


async def prewarm() -> None:
    """Wake the service (a Modal container may be cold): poll GET /health until it
    answers 200, at most ORPHEUS_PREWARM_TIMEOUT_S. Best effort: logs, never raises."""
    from backends.orpheus.settings import load_client_settings, redact
    from unmute.tts.health import HealthTimeout, poll_health

    try:
        settings = load_client_settings()
        settings.check()
    except SettingsError as exc:
        logger.warning("orpheus prewarm skipped: %s", exc)
        return
    url, secrets = settings.health_url, settings.secrets()
    try:
        answer = await asyncio.to_thread(
            poll_health,
            url,
            timeout_s=settings.prewarm_timeout_s,
            headers=settings.headers(),
            interval_s=settings.retry_initial_backoff_s,
            max_interval_s=settings.retry_max_backoff_s,
            backoff=2.0,
            final_statuses=(401, 403, 404),
        )
    except HealthTimeout as exc:
        last = redact(exc.last.describe(), secrets)
        logger.warning("orpheus prewarm: %s not healthy in time (%s)", url, last)
        return
    except ValueError as exc:  # a URL urllib cannot use
        logger.warning("orpheus prewarm: %s", redact(str(exc), secrets))
        return
    if answer.healthy:
        logger.info("orpheus service awake (%s)", url)
    else:
        logger.warning("orpheus prewarm: %s answered %s; giving up", url, answer.status)


backend = BackendSpec(
    name="orpheus",
    description="Orpheus TTS service over unmute's WebSocket protocol (local or on Modal)",
    create=_create,
    unavailable_reason=_rules.unavailable_reason,
    auto_select_reason=_rules.auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    voices=_voices,
    prewarm=prewarm,
)
