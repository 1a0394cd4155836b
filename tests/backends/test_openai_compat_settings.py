"""The `openai` backend's settings: the key, the base URL, and when the backend is
available and chosen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backends import openai_compat
from backends.openai_compat.settings import OpenAITTSSettings, load_client_settings
from unmute.tts.settings import SettingsError, reset_settings

OpenAIEnv = Callable[..., None]
KEY = "sk-very-secret-key"


def test_openai_api_key_is_honoured_as_the_key(
    openai_env: OpenAIEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env("http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert load_client_settings().headers() == {"Authorization": f"Bearer {KEY}"}


def test_the_tts_key_variable_wins_over_openai_api_key(
    openai_env: OpenAIEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env("http://127.0.0.1:1/v1", api_key="sk-tts")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert load_client_settings().headers() == {"Authorization": "Bearer sk-tts"}


def test_the_key_is_never_shown(openai_env: OpenAIEnv) -> None:
    openai_env("http://127.0.0.1:1/v1", api_key=KEY)
    settings = load_client_settings()
    assert KEY not in repr(settings) and KEY not in str(settings)
    assert settings.redact(f"echo {KEY}") == "echo ***"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws://127.0.0.1:8880/v1", "http:// or https://"),
        ("http://user:pw@127.0.0.1/v1", "must not hold credentials"),
        ("http://127.0.0.1/v1?key=1", "query"),
    ],
)
def test_a_bad_base_url_is_a_settings_error_naming_the_variable(
    openai_env: OpenAIEnv, url: str, problem: str
) -> None:
    openai_env(url)
    with pytest.raises(SettingsError, match="OPENAI_TTS_BASE_URL") as raised:
        load_client_settings()
    assert problem in str(raised.value) and "pw" not in str(raised.value)


@pytest.mark.parametrize("base", ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"])
def test_the_base_url_may_be_the_root_or_the_v1_url(base: str) -> None:
    settings = OpenAITTSSettings(base_url=base)
    assert settings.speech_url == "http://h:1/v1/audio/speech"
    assert settings.voices_url == "http://h:1/v1/audio/voices"
    captioned = OpenAITTSSettings(base_url=base, word_times="captioned")
    assert captioned.speech_url == "http://h:1/dev/captioned_speech"


def test_unset_base_url_is_openais_api() -> None:
    assert OpenAITTSSettings().speech_url == "https://api.openai.com/v1/audio/speech"


def test_the_backend_needs_a_base_url_or_a_key(openai_env: OpenAIEnv, monkeypatch: Any) -> None:
    openai_env("http://127.0.0.1:1/v1")
    monkeypatch.delenv("OPENAI_TTS_BASE_URL")
    reset_settings()
    reason = openai_compat.backend.unavailable_reason()
    assert reason is not None and "OPENAI_TTS_BASE_URL" in reason and "OPENAI_API_KEY" in reason
    assert openai_compat.backend.auto_select_reason() is None
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    reset_settings()
    assert openai_compat.backend.unavailable_reason() is None
    assert openai_compat.backend.auto_select_reason() is None  # a key alone picks nothing


def test_a_base_url_makes_the_backend_chosen_by_default(openai_env: OpenAIEnv) -> None:
    openai_env("http://127.0.0.1:1/v1")
    assert openai_compat.backend.auto_select_reason() == "OPENAI_TTS_BASE_URL is set"


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_compat, "missing_modules", lambda *names: ["httpx"])
    reason = openai_compat.backend.unavailable_reason()
    assert reason is not None and "pip install 'unmute-tts[openai]'" in reason
