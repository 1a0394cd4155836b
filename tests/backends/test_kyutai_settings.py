"""The `kyutai` backend's settings: unmute's own variable, defaults and key; http URLs
made WebSocket URLs; a bad URL, or one holding a password, refused naming the variable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends.kyutai import backend
from backends.kyutai.settings import KyutaiClientSettings, load_client_settings
from unmute.tts import registry, upstream
from unmute.tts.settings import SettingsError, reset_settings


@pytest.fixture(autouse=True)
def outside_unmute(isolated_env: None) -> Iterator[None]:
    """No project variable or .env file of the machine, and no upstream module found before,
    reaches these tests."""
    upstream.refresh()
    yield
    upstream.refresh()


def test_is_registered_with_unmutes_own_variable_choosing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.refresh()
    assert registry.get_backend("kyutai") is backend
    assert backend.auto_select_reason() is None
    monkeypatch.setenv("KYUTAI_TTS_URL", "ws://tts.internal:8089")
    reset_settings()
    assert backend.auto_select_reason() == "KYUTAI_TTS_URL is set"


def test_defaults_are_unmutes() -> None:
    settings = load_client_settings()
    assert settings.websocket_url() == "ws://localhost:8089/api/tts_streaming"
    assert settings.headers() == {"kyutai-api-key": "public_token"}
    assert settings.cfg_alpha == 1.5


@pytest.mark.parametrize(
    ("url", "websocket"),
    [
        ("http://tts:8089", "ws://tts:8089/api/tts_streaming"),
        ("https://tts.example/", "wss://tts.example/api/tts_streaming"),
        ("wss://tts.example/api/tts_streaming", "wss://tts.example/api/tts_streaming"),
    ],
)
def test_http_urls_become_websocket_urls(url: str, websocket: str) -> None:
    assert KyutaiClientSettings(url=url).websocket_url() == websocket


def test_a_bad_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KYUTAI_TTS_URL", "localhost:8089")
    with pytest.raises(SettingsError, match="KYUTAI_TTS_URL"):
        load_client_settings()
    assert "KYUTAI_TTS_URL" in (backend.unavailable_reason() or "")


def test_a_url_holding_a_password_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KYUTAI_TTS_URL", "ws://user:hunter2@tts:8089")
    with pytest.raises(SettingsError, match="KYUTAI_TTS_API_KEY") as caught:
        load_client_settings()
    assert "hunter2" not in str(caught.value)
