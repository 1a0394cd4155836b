"""The `orpheus` backend: settings, registration, speech and credentials, against a
local fake of the Orpheus service's WebSocket (tests/support/orpheus_fake_ws.py)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from backends.orpheus import AUTO_PRIORITY, VOICES, backend
from backends.orpheus.client import OrpheusAuthError, OrpheusTextToSpeech
from backends.orpheus.settings import OrpheusClientSettings, load_client_settings
from tests.support.orpheus_fake_ws import (
    API_KEY,
    CHUNK,
    MODAL_KEY,
    MODAL_SECRET,
    SECRETS,
    Fake,
    audio_chunks,
    errors,
    fake_service,
    settings,
)
from tests.support.sessions import speak
from unmute.tts import registry
from unmute.tts import session_metrics as mt
from unmute.tts.protocol import (
    TTSTextMessage,
)
from unmute.tts.settings import SettingsError

pytestmark = pytest.mark.usefixtures("isolated_env")


# -- settings and registration -----------------------------------------------------------


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


# -- the happy path ----------------------------------------------------------------------


async def test_speaks_words_sent_one_by_one_and_yields_audio_and_word_timings() -> None:
    async with fake_service() as (url, fake):
        tts = OrpheusTextToSpeech("leo", settings=settings(url))
        messages = await speak(tts, "Hello from unmute.")
    assert fake.words == ["Hello", "from", "unmute."] and fake.eos
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == fake.words
    chunks = audio_chunks(messages)
    assert len(chunks) == 3 and all(
        c.pcm.dtype == np.float32 and len(c.pcm) == CHUNK for c in chunks
    )
    assert errors(messages) == []
    assert fake.requests[0].path == "/api/tts_streaming?format=PcmMessagePack&voice=leo"
    assert tts.state() == "closed"


async def test_sends_the_key_and_modal_proxy_headers_when_set() -> None:
    async with fake_service(fake=Fake(api_key=API_KEY)) as (url, fake):
        config = settings(url, api_key=API_KEY, modal_key=MODAL_KEY, modal_secret=MODAL_SECRET)
        await speak(OrpheusTextToSpeech(settings=config), "hi")
    headers = fake.requests[0].headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["kyutai-api-key"] == API_KEY
    assert (headers["Modal-Key"], headers["Modal-Secret"]) == (MODAL_KEY, MODAL_SECRET)


async def test_sends_no_credential_headers_when_none_are_set() -> None:
    async with fake_service() as (url, fake):
        await speak(OrpheusTextToSpeech(settings=settings(url)), "hi")
    headers = fake.requests[0].headers
    assert all(name not in headers for name in ("Authorization", "kyutai-api-key", "Modal-Key"))


async def test_metrics_report_time_to_first_audio_audio_seconds_and_retries() -> None:
    seen: list[mt.TTSMetrics] = []
    mt.add_metrics_listener(seen.append)
    try:
        async with fake_service(fake=Fake(refuse_status=[503])) as (url, _):
            await speak(OrpheusTextToSpeech(settings=settings(url)), "one two")
    finally:
        mt.remove_metrics_listener(seen.append)
    (metrics,) = seen
    assert metrics.backend == "orpheus" and metrics.retries == 1 and metrics.errors == 0
    assert metrics.ttfa_s is not None and metrics.audio_s == pytest.approx(0.2)


# -- credentials -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_wrong_api_key_fails_at_once_with_a_clear_error_and_no_retry(status: int) -> None:
    fake = Fake(api_key=API_KEY, refuse_status=[status])
    async with fake_service(fake=fake) as (url, _):
        tts = OrpheusTextToSpeech(
            settings=settings(url, api_key="sk-wrong-key", startup_budget_s=10)
        )
        started = time.monotonic()
        with pytest.raises(OrpheusAuthError) as caught:
            await tts.start_up()
    assert time.monotonic() - started < 0.5
    assert fake.connections == 1 and tts.metrics.retries == 0
    message = str(caught.value)
    assert f"HTTP {status}" in message and "check ORPHEUS_API_KEY" in message
    assert "sk-wrong-key" not in message


async def test_missing_api_key_says_which_variable_to_set() -> None:
    async with fake_service(fake=Fake(api_key=API_KEY)) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        with pytest.raises(OrpheusAuthError, match="set ORPHEUS_API_KEY"):
            await tts.start_up()
    assert fake.connections == 1


async def test_secrets_appear_in_no_log_repr_or_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config_args = {"api_key": API_KEY, "modal_key": MODAL_KEY, "modal_secret": MODAL_SECRET}
    texts: list[str] = []
    async with fake_service(fake=Fake(api_key=API_KEY)) as (url, _):
        config = settings(url, **config_args)
        texts += [repr(config), str(config), config.model_dump_json()]
        tts = OrpheusTextToSpeech(settings=config)
        await speak(tts, "hello")
        texts.append(repr(tts.metrics))
    async with fake_service(fake=Fake(api_key="another-key")) as (url, _):
        with pytest.raises(OrpheusAuthError) as caught:
            await OrpheusTextToSpeech(settings=settings(url, **config_args)).start_up()
        texts.append(str(caught.value))
    with pytest.raises(SettingsError) as bad_url:
        load_client_settings(fastapi_url=f"http://user:{API_KEY}@h:1/?q", **config_args)
    texts.append(str(bad_url.value))
    # The fake service's own logger (websockets.server) is not ours to judge.
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")
    )
    assert "Authorization: Bearer ***" in client_log  # websockets logged the headers, masked
    texts.append(client_log)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
