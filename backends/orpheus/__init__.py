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
import time
import urllib.error
import urllib.request
from typing import Final

from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec
from unmute.tts.settings import SettingsError

logger = logging.getLogger(__name__)

VOICES: Final = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")
"""Orpheus's English voices (the service may know more, e.g. multilingual ones)."""
AUTO_PRIORITY: Final = 100


def _create(voice: str | None) -> TextToSpeech:
    from backends.orpheus.client import OrpheusTextToSpeech

    return OrpheusTextToSpeech(voice)


def _unavailable_reason() -> str | None:
    from backends.orpheus.settings import load_client_settings

    try:
        load_client_settings().check()
    except SettingsError as exc:
        return str(exc)
    return None


def _auto_select_reason() -> str | None:
    from backends.orpheus.settings import load_client_settings

    try:
        url = load_client_settings().fastapi_url
    except SettingsError:
        return None
    return None if url is None else "ORPHEUS_FASTAPI_URL is set"


def _voices() -> list[str]:
    return list(VOICES)


def _get_health(url: str, headers: dict[str, str], timeout_s: float) -> int:
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


async def prewarm() -> None:
    """Wake the service (a Modal container may be cold): poll GET /health until it
    answers 2xx, at most ORPHEUS_PREWARM_TIMEOUT_S. Best effort: logs, never raises."""
    from backends.orpheus.settings import load_client_settings, redact

    try:
        settings = load_client_settings()
        settings.check()
    except SettingsError as exc:
        logger.warning("orpheus prewarm skipped: %s", exc)
        return
    url, secrets = settings.health_url, settings.secrets()
    deadline = time.monotonic() + settings.prewarm_timeout_s
    delay = settings.retry_initial_backoff_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            status = await asyncio.to_thread(
                _get_health, url, settings.headers(), max(remaining, 0.1)
            )
        except (OSError, ValueError) as exc:
            status, problem = None, redact(str(exc), secrets)
        else:
            problem = f"HTTP {status}"
        if status is not None and 200 <= status < 300:
            logger.info("orpheus service awake (%s)", url)
            return
        if status in (401, 403, 404):
            logger.warning("orpheus prewarm: %s answered %s; giving up", url, problem)
            return
        if time.monotonic() + delay >= deadline:
            logger.warning("orpheus prewarm: %s not healthy in time (%s)", url, problem)
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.retry_max_backoff_s)


backend = BackendSpec(
    name="orpheus",
    description="Orpheus TTS service over unmute's WebSocket protocol (local or on Modal)",
    create=_create,
    unavailable_reason=_unavailable_reason,
    auto_select_reason=_auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    voices=_voices,
    prewarm=prewarm,
)
