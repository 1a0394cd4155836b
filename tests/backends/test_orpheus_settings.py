"""The `orpheus` backend's settings and registration: service URLs in every scheme, the
ORPHEUS_* variables, when the backend is available and chosen, its voices, and a Modal
key without its secret refused without showing it."""

from __future__ import annotations

import pytest

from backends.orpheus import AUTO_PRIORITY, VOICES, backend
from backends.orpheus.client import OrpheusTextToSpeech
from backends.orpheus.settings import OrpheusClientSettings, load_client_settings
from tests.support.orpheus_fake_ws import (
    MODAL_KEY,
)
from unmute.tts import registry
from unmute.tts.settings import SettingsError

pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.mark.parametrize(
    ("url", "websocket", "health"),
    [
        (
            "http://127.0.0.1:8000",
            "ws://127.0.0.1:8000/api/tts_streaming",
            "http://127.0.0.1:8000/health",
        ),
        (
            "https://me--orpheus-tts.modal.run/",
            "wss://me--orpheus-tts.modal.run/api/tts_streaming",
            "https://me--orpheus-tts.modal.run/health",
        ),
        ("ws://localhost:9/", "ws://localhost:9/api/tts_streaming", "http://localhost:9/health"),
        (
            "wss://h.example/api/tts_streaming",
            "wss://h.example/api/tts_streaming",
            "https://h.example/health",
        ),
        (
            "HTTP://h.example/tts",
            "ws://h.example/tts/api/tts_streaming",
            "http://h.example/tts/health",
        ),
    ],
)
def test_url_derivation_accepts_http_https_ws_and_wss(
    url: str, websocket: str, health: str
) -> None:
    config = OrpheusClientSettings(fastapi_url=url)
    assert config.websocket_url == websocket
    assert config.health_url == health


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://h/", "http://", "http://h/?x=1"])
def test_invalid_url_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", url)
    with pytest.raises(SettingsError, match="ORPHEUS_FASTAPI_URL"):
        load_client_settings()


def test_streaming_url_carries_format_voice_and_sampling_overrides() -> None:
    config = OrpheusClientSettings(
        fastapi_url="http://h", temperature=0.7, top_p=0.85, repetition_penalty=1.2
    )
    assert config.streaming_url("leo") == (
        "ws://h/api/tts_streaming?format=PcmMessagePack&voice=leo"
        "&temperature=0.7&top_p=0.85&repetition_penalty=1.2"
    )
    assert OrpheusClientSettings(fastapi_url="http://h").streaming_url(None) == (
        "ws://h/api/tts_streaming?format=PcmMessagePack"
    )


def test_settings_come_from_orpheus_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", "https://x.modal.run")
    monkeypatch.setenv("ORPHEUS_VOICE", "zoe")
    monkeypatch.setenv("ORPHEUS_STARTUP_BUDGET_S", "90")
    monkeypatch.setenv("ORPHEUS_RETRY_MAX_BACKOFF_S", "5")
    monkeypatch.setenv("ORPHEUS_API_KEY", "")  # empty counts as unset
    config = load_client_settings()
    assert config.voice == "zoe" and config.api_key is None
    policy = config.retry_policy()
    assert (policy.budget_s, policy.max_backoff_s) == (90.0, 5.0)


def test_startup_budget_defaults_to_unmute_startup_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMUTE_TTS_STARTUP_TIMEOUT_S", "42")
    assert OrpheusClientSettings(fastapi_url="http://h").retry_policy().budget_s == 42.0


def test_unset_url_makes_the_backend_unavailable_and_not_chosen() -> None:
    assert backend.unavailable_reason() == "ORPHEUS_FASTAPI_URL is not set"
    assert backend.auto_select_reason() is None


def test_set_url_makes_orpheus_the_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", "http://127.0.0.1:1")
    registry.refresh()
    try:
        assert backend.unavailable_reason() is None
        assert backend.auto_select_reason() == "ORPHEUS_FASTAPI_URL is set"
        assert AUTO_PRIORITY > -100
        assert registry.resolve_backend_name()[0] == "orpheus"
        assert isinstance(registry.create_tts(), OrpheusTextToSpeech)
    finally:
        registry.refresh()


def test_the_offline_voices_are_the_english_orpheus_voices() -> None:
    assert (
        backend.voices()
        == list(VOICES)
        == ["tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe"]
    )


def test_without_a_service_url_the_service_lists_no_voices() -> None:
    assert backend.service_voices is not None and backend.service_voices() == []


def test_voice_comes_from_the_caller_then_orpheus_voice() -> None:
    config = OrpheusClientSettings(fastapi_url="http://h", voice="mia")
    assert OrpheusTextToSpeech(settings=config).voice == "mia"
    assert OrpheusTextToSpeech("dan", settings=config).voice == "dan"


def test_modal_key_without_secret_is_a_clear_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", "https://x.modal.run")
    monkeypatch.setenv("ORPHEUS_MODAL_KEY", MODAL_KEY)
    reason = backend.unavailable_reason()
    assert reason is not None and "ORPHEUS_MODAL_SECRET" in reason and MODAL_KEY not in reason
    with pytest.raises(SettingsError) as caught:
        OrpheusTextToSpeech()
    assert MODAL_KEY not in str(caught.value)
