"""The `piper` backend: an offline neural voice on the CPU (piper, VITS in onnxruntime).

Needs the `piper` extra (piper-tts with onnx for alignments, the bundled voice
`en_US-joe-medium`, soxr, platformdirs). Chosen by the default rule above espeak (and
below a configured service) once installed with a usable voice. Importing this package
is cheap: piper loads on first use. Settings: `backends.piper.settings`; voices:
`backends.piper.voices`; the session: `backends.piper.session`.
"""

from __future__ import annotations

import logging
from typing import Final

from unmute.tts.extras import install_hint, missing_modules, require_extra
from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec
from unmute.tts.settings import SettingsError

logger = logging.getLogger(__name__)

REQUIRED_MODULES: Final = ("piper", "onnxruntime", "onnx", "soxr", "platformdirs")
AUTO_PRIORITY: Final = -50
"""Above espeak (-100), below the service backends (kyutai 50, orpheus 100)."""


def _unavailable_reason() -> str | None:
    missing = missing_modules(*REQUIRED_MODULES)
    if missing:
        hint = install_hint("piper")
        return f"the piper backend needs {', '.join(missing)}; install with: {hint}"
    from backends.piper.settings import load_piper_settings
    from backends.piper.voices import VoiceError, find_voice, split_speaker

    try:
        settings = load_piper_settings()
        find_voice(split_speaker(settings.voice)[0], settings)
    except (SettingsError, VoiceError) as exc:
        return str(exc)
    return None


def _auto_select_reason() -> str | None:
    if _unavailable_reason() is not None:
        return None
    return "offline neural voice installed (piper)"


def _create(voice: str | None) -> TextToSpeech:
    # Found, not imported: importing onnx and onnxruntime takes about a second, which
    # the voice's loading thread spends instead of unmute's discovery (0.5 s).
    for module in missing_modules(*REQUIRED_MODULES):
        require_extra(module, "piper", feature="the piper TTS backend")
    from backends.piper.session import PiperTextToSpeech

    return PiperTextToSpeech(voice)


def _voices() -> list[str]:
    if missing_modules(*REQUIRED_MODULES):
        return []
    from backends.piper.settings import load_piper_settings
    from backends.piper.voices import installed_voices

    try:
        return installed_voices(load_piper_settings())
    except SettingsError as exc:
        logger.warning("piper: cannot list voices: %s", exc)
        return []


backend = BackendSpec(
    name="piper",
    description="Offline neural speech with piper (natural, CPU, exact word times)",
    create=_create,
    unavailable_reason=_unavailable_reason,
    auto_select_reason=_auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    voices=_voices,
)
