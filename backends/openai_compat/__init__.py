"""The `openai` backend: any OpenAI-compatible speech server (`/v1/audio/speech`).

OpenAI itself, Kokoro-FastAPI, speaches, chatterbox-tts-api, Orpheus-FastAPI,
openedai-speech, vLLM and the Orpheus service. Needs the `openai` extra (httpx, soxr;
PyAV for compressed answers). Chosen by default once `OPENAI_TTS_BASE_URL` is set
(priority 75: below `orpheus`, above `kyutai`); `UNMUTE_TTS_BACKEND=openai` with only
`OPENAI_API_KEY` set speaks through OpenAI. Settings: `backends.openai_compat.settings`;
the session: `backends.openai_compat.session`. Importing this package is cheap.
"""

from __future__ import annotations

from typing import Final

from unmute.tts.extras import install_hint, missing_modules, require_extra
from unmute.tts.protocol import TextToSpeech
from unmute.tts.registry import BackendSpec
from unmute.tts.settings import SettingsError

AUTO_PRIORITY: Final = 75
REQUIRED_MODULES: Final = ("httpx", "soxr")
EXTRA: Final = "openai"


def _unavailable_reason() -> str | None:
    missing = missing_modules(*REQUIRED_MODULES)
    if missing:
        return f"the openai backend needs {', '.join(missing)}; install with: {install_hint(EXTRA)}"
    from backends.openai_compat.settings import KEY_VARIABLES, env_var, load_client_settings

    try:
        settings = load_client_settings()
    except SettingsError as exc:
        return str(exc)
    if settings.base_url is None and settings.api_key is None:
        return (
            f"set {env_var('base_url')} (an OpenAI-compatible server) or {KEY_VARIABLES} "
            "(OpenAI's API)"
        )
    return None


def _auto_select_reason() -> str | None:
    if _unavailable_reason() is not None:
        return None
    from backends.openai_compat.settings import load_client_settings

    if load_client_settings().base_url is None:
        return None
    return "OPENAI_TTS_BASE_URL is set"


def _create(voice: str | None) -> TextToSpeech:
    for module in REQUIRED_MODULES:
        require_extra(module, EXTRA, feature="the openai TTS backend")
    from backends.openai_compat.session import OpenAITextToSpeech

    return OpenAITextToSpeech(voice)


def _voices() -> list[str]:
    from backends.openai_compat.settings import load_client_settings
    from backends.openai_compat.voices import OPENAI_VOICES, list_voices

    if missing_modules("httpx"):
        return list(OPENAI_VOICES)
    return list_voices(load_client_settings())


backend = BackendSpec(
    name="openai",
    description="any OpenAI-compatible speech server: OpenAI, Kokoro-FastAPI, speaches, ...",
    create=_create,
    unavailable_reason=_unavailable_reason,
    auto_select_reason=_auto_select_reason,
    auto_priority=AUTO_PRIORITY,
    voices=_voices,
)
