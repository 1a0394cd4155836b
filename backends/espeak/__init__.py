"""The `espeak` backend: real offline speech on the CPU through libespeak-ng.

Needs the `espeak` extra (espeakng-loader ships the library and its data; soxr
resamples to 24 kHz). It is the embedded default: chosen, at the lowest priority,
when no service backend is configured. Importing this package is cheap: the library
loads on first use.
"""

from __future__ import annotations

import logging

from unmute.tts.extras import install_hint, missing_modules, require_extra
from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec

logger = logging.getLogger(__name__)

REQUIRED_MODULES = ("espeakng_loader", "soxr")
AUTO_PRIORITY = -100
"""Lowest: any configured service backend wins over the embedded default."""


def _unavailable_reason() -> str | None:
    missing = missing_modules(*REQUIRED_MODULES)
    if missing:
        return (
            f"the espeak backend needs {', '.join(missing)}; install with: {install_hint('espeak')}"
        )
    return None


def _auto_select_reason() -> str | None:
    if _unavailable_reason() is not None:
        return None
    return "embedded default (no service configured)"


def _create(voice: str | None) -> TextToSpeech:
    for module in REQUIRED_MODULES:
        require_extra(module, "espeak", feature="the espeak TTS backend")
    from backends.espeak.session import EspeakTextToSpeech

    return EspeakTextToSpeech(voice)


def _voices() -> list[str]:
    if _unavailable_reason() is not None:
        return []
    from unmute.tts.espeak_ng.engine import EspeakEngine
    from unmute.tts.espeak_ng.library import EspeakError

    try:
        return EspeakEngine.get().voices()
    except (OSError, EspeakError) as exc:
        logger.warning("espeak: cannot list voices: %s", exc)
        return []


backend = BackendSpec(
    name="espeak",
    description="Offline CPU speech with libespeak-ng (robotic, instant, many languages)",
    create=_create,
    unavailable_reason=_unavailable_reason,
    auto_select_reason=_auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    voices=_voices,
)
