"""The `orpheus` backend's client: speech, word timings, credentials and metrics, against
a local fake of the Orpheus service's WebSocket (tests/support/orpheus_fake_ws.py)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from backends.orpheus.client import OrpheusAuthError, OrpheusTextToSpeech
from backends.orpheus.settings import load_client_settings
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
from unmute.tts import session_metrics as mt
from unmute.tts.protocol import (
    TTSTextMessage,
)
from unmute.tts.settings import SettingsError

pytestmark = pytest.mark.usefixtures("isolated_env")


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
