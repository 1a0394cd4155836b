"""The `orpheus` backend: speaks through the Orpheus service (`unmute-tts serve`, Modal).

Usable once `ORPHEUS_FASTAPI_URL` is set, and then chosen by default (priority 100,
above espeak). Settings: `backends.orpheus.settings`; the client:
`backends.orpheus.client` (not `backend.py`: importing a submodule of that name would
replace this package's `backend` attribute, the entry point). Importing this package
is cheap: websockets and msgpack load on first use.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Final, cast

from orpheus_service.vocabulary.voices import ENGLISH_VOICES
from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec, ServiceRules
from unmute.tts.settings import SettingsError

if TYPE_CHECKING:
    from backends.orpheus.settings import OrpheusClientSettings

logger = logging.getLogger(__name__)

VOICES: Final = ENGLISH_VOICES
"""Orpheus's English voices, the offline list (the service may know more, e.g.
multilingual ones: `unmute-tts voices` asks it)."""
AUTO_PRIORITY: Final = 100
VOICES_TIMEOUT_S: Final = 5.0
"""How long `unmute-tts voices` waits for the service's voice list."""


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


def _listed_voices() -> list[str]:
    """The voices the service lists (GET /v1/audio/voices); none while ORPHEUS_FASTAPI_URL
    is unset; BackendError, naming the cause, when the service cannot be asked."""
    try:
        settings = _load_settings()
        settings.check()
    except SettingsError:
        return []
    return list(_service_voices(settings.voices_url, tuple(settings.headers().items())))


@functools.cache
def _service_voices(url: str, headers: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """One service's voice list, asked once per process (it changes only on redeploy)."""
    from backends.orpheus.settings import redact
    from unmute.tts.base import BackendError
    from unmute.tts.health import get_health

    answer = get_health(url, dict(headers), timeout_s=VOICES_TIMEOUT_S)
    body: object = answer.body
    listed: object = cast(dict[str, object], body).get("voices") if isinstance(body, dict) else None
    if answer.status != 200 or not isinstance(listed, list):
        listed = None
    names = [v for v in cast(list[object], listed or []) if isinstance(v, str)]
    if listed is None or len(names) != len(cast(list[object], listed)):
        cause = answer.describe() if answer.status else f"unreachable ({answer.error})"
        secrets = [value for _, value in headers]
        raise BackendError(
            redact(f"the Orpheus service at {url} listed no voices: {cause}", secrets)
        )
    return tuple(names)


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
    service_voices=_listed_voices,
    prewarm=prewarm,
)
