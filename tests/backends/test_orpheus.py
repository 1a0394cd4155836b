"""The `orpheus` backend against a local fake of the Orpheus service's WebSocket.

The fake (`websockets.serve` on 127.0.0.1, a free port) speaks unmute's protocol and
plays the faults: not up yet, HTTP 503 cold start, "no free channels", a dropped
connection after audio, a wrong key, a stalled handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from backends.orpheus import AUTO_PRIORITY, VOICES, backend, prewarm
from backends.orpheus.client import OrpheusAuthError, OrpheusTextToSpeech
from backends.orpheus.settings import OrpheusClientSettings, load_client_settings
from tests.support.sessions import speak
from tests.support.waiting import wait_until
from unmute.tts import registry
from unmute.tts import session_metrics as mt
from unmute.tts.base import BackendError
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSErrorMessage,
    TTSTextMessage,
)
from unmute.tts.settings import SettingsError

API_KEY = "sk-test-3f9a1c"
MODAL_KEY = "wk-test-77aa"
MODAL_SECRET = "ws-test-secret-0b1e"
SECRETS = (API_KEY, MODAL_KEY, MODAL_SECRET)
CHUNK = 2400  # 0.1 s per audio chunk


def pack(message: dict[str, Any]) -> bytes:
    return cast(bytes, msgpack.packb(message))  # pyright: ignore[reportUnknownMemberType]


def unpack(raw: str | bytes) -> dict[str, Any]:
    assert isinstance(raw, bytes)
    return cast(dict[str, Any], msgpack.unpackb(raw))  # pyright: ignore[reportUnknownMemberType]


def audio(value: float = 0.1) -> dict[str, Any]:
    return {"type": "Audio", "pcm": [value] * CHUNK}


pytestmark = pytest.mark.usefixtures("isolated_env")


# -- the fake service --------------------------------------------------------------------


@dataclass
class Fake:
    """What the fake service saw, and its knobs."""

    api_key: str | None = None
    refuse_status: list[int] = field(default_factory=lambda: list[int]())
    """HTTP statuses answered to the first handshakes, one per connection."""
    connections: int = 0
    requests: list[Request] = field(default_factory=lambda: list[Request]())
    words: list[str] = field(default_factory=lambda: list[str]())
    eos: bool = False
    closed_at: float | None = None
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    health_status: list[int] = field(default_factory=lambda: list[int]())
    health_requests: int = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            self.health_requests += 1
            status = self.health_status.pop(0) if self.health_status else 200
            return connection.respond(HTTPStatus(status), "health\n")
        self.connections += 1
        self.requests.append(request)
        if self.refuse_status:
            return connection.respond(HTTPStatus(self.refuse_status.pop(0)), "refused\n")
        if self.api_key is not None and request.headers.get("kyutai-api-key") != self.api_key:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Invalid API key\n")
        return None

    def saw_close(self, exc: ConnectionClosed) -> None:
        self.closed_at = time.monotonic()
        self.close_code = exc.rcvd.code if exc.rcvd is not None else None
        self.closed.set()


Handler = Callable[[ServerConnection, Fake], Awaitable[None]]


async def speak_words(ws: ServerConnection, fake: Fake) -> None:
    """The well-behaved service: Ready, then per word a Text and an Audio chunk."""
    await ws.send(pack({"type": "Ready"}))
    t = 0.0
    async for raw in ws:
        message = unpack(raw)
        if message["type"] == "Eos":
            fake.eos = True
            break
        fake.words.append(message["text"])
        await ws.send(
            pack({"type": "Text", "text": message["text"], "start_s": t, "stop_s": t + 0.1})
        )
        await ws.send(pack(audio()))
        t += 0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def fake_service(
    handler: Handler = speak_words, fake: Fake | None = None, port: int = 0
) -> AsyncIterator[tuple[str, Fake]]:
    fake = fake or Fake()

    async def run(ws: ServerConnection) -> None:
        try:
            await handler(ws, fake)
        except ConnectionClosed as exc:
            fake.saw_close(exc)
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.close()

    async with serve(run, "127.0.0.1", port, process_request=fake.process_request) as server:
        bound: int = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{bound}", fake


def settings(url: str, **overrides: Any) -> OrpheusClientSettings:
    values: dict[str, Any] = {
        "fastapi_url": url,
        "startup_budget_s": 5.0,
        "retry_initial_backoff_s": 0.05,
        "retry_max_backoff_s": 0.2,
        "ws_connect_timeout_s": 2.0,
    }
    values.update(overrides)
    return OrpheusClientSettings(**values)


def audio_chunks(messages: list[OutputMessage]) -> list[TTSAudioMessage]:
    return [m for m in messages if isinstance(m, TTSAudioMessage)]


def errors(messages: list[OutputMessage]) -> list[TTSErrorMessage]:
    return [m for m in messages if isinstance(m, TTSErrorMessage)]


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


# -- start-up faults (retried inside the budget) -----------------------------------------


async def test_service_not_up_yet_start_up_succeeds_once_it_comes_up() -> None:
    port = free_port()
    tts = OrpheusTextToSpeech(settings=settings(f"http://127.0.0.1:{port}", startup_budget_s=10))
    done = asyncio.Event()

    async def late_service() -> None:
        await wait_until(lambda: tts.metrics.retries >= 3)  # refused three times
        async with fake_service(port=port):
            await done.wait()

    server = asyncio.create_task(late_service())
    try:
        await tts.start_up()
        assert tts.state() == "connected"
        assert tts.metrics.retries >= 3
        await tts.shutdown()
    finally:
        done.set()
        await asyncio.wait_for(server, 5)
        with contextlib.suppress(asyncio.CancelledError):
            await server


async def test_service_not_up_within_the_budget_fails_clearly_at_the_budget() -> None:
    tts = OrpheusTextToSpeech(
        settings=settings(f"http://127.0.0.1:{free_port()}", startup_budget_s=1)
    )
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"not ready within 1 s.*cannot connect"):
        await tts.start_up()
    assert time.monotonic() - started < 1.2
    assert tts.state() == "closed"


@pytest.mark.parametrize("status", [502, 503, 504, 429])
async def test_http_5xx_during_a_modal_cold_start_is_retried(status: int) -> None:
    async with fake_service(fake=Fake(refuse_status=[status, status])) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        messages = await speak(tts, "hello")
    assert fake.connections == 3 and tts.metrics.retries == 2
    assert len(audio_chunks(messages)) == 1 and errors(messages) == []


def refuse_channels(times: int | None) -> Handler:
    """A service that answers Error "no free channels" then closes, `times` times."""
    count = 0

    async def handler(ws: ServerConnection, fake: Fake) -> None:
        nonlocal count
        count += 1
        if times is None or count <= times:
            await ws.send(pack({"type": "Error", "message": "no free channels"}))
            await ws.close()
            return
        await speak_words(ws, fake)

    return handler


async def test_no_free_channels_is_retried_then_succeeds() -> None:
    async with fake_service(refuse_channels(2)) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        messages = await speak(tts, "hello there")
    assert fake.connections == 3 and tts.metrics.retries == 2
    assert len(audio_chunks(messages)) == 2 and errors(messages) == []


async def test_no_free_channels_until_the_budget_fails_clearly() -> None:
    async with fake_service(refuse_channels(None)) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url, startup_budget_s=1.0))
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"not ready within 1 s.*no free channels"):
            await tts.start_up()
    assert time.monotonic() - started < 1.3
    assert fake.connections >= 3
    assert tts.state() == "closed"


async def test_a_stalled_handshake_times_out_per_attempt_and_is_retried() -> None:
    attempts = 0

    async def stall_once(ws: ServerConnection, fake: Fake) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await ws.wait_closed()  # never sends Ready
            return
        await speak_words(ws, fake)

    async with fake_service(stall_once) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url, ws_connect_timeout_s=0.3))
        messages = await speak(tts, "hi")
    assert fake.connections == 2 and tts.metrics.retries == 1 and errors(messages) == []


async def test_a_refusal_other_than_capacity_is_not_retried() -> None:
    async def unknown_voice(ws: ServerConnection, fake: Fake) -> None:
        await ws.send(pack({"type": "Error", "message": "unknown voice 'bob'"}))

    async with fake_service(unknown_voice) as (url, fake):
        tts = OrpheusTextToSpeech("bob", settings=settings(url))
        with pytest.raises(BackendError, match="unknown voice 'bob'"):
            await tts.start_up()
    assert fake.connections == 1 and tts.metrics.retries == 0


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


# -- faults after audio (never retried) --------------------------------------------------


async def test_connection_dropped_after_audio_ends_with_an_error_and_no_retry() -> None:
    async def drop(ws: ServerConnection, fake: Fake) -> None:
        await ws.send(pack({"type": "Ready"}))
        fake.words.append(unpack(await ws.recv())["text"])
        await ws.send(pack({"type": "Text", "text": "one", "start_s": 0.0, "stop_s": 0.1}))
        await ws.send(pack(audio()))
        await ws.send(pack(audio()))
        await asyncio.sleep(0.1)
        ws.transport.abort()

    async with fake_service(drop) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        messages = await speak(tts, "one two three")
    assert fake.connections == 1 and tts.metrics.retries == 0
    assert len(audio_chunks(messages)) == 2
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "lost after 0.20 s of audio" in messages[-1].message
    assert len(errors(messages)) == 1


async def test_service_error_after_audio_ends_the_stream_with_its_message() -> None:
    async def fail(ws: ServerConnection, fake: Fake) -> None:
        await ws.send(pack({"type": "Ready"}))
        await ws.recv()
        await ws.send(pack(audio()))
        await ws.send(pack({"type": "Error", "message": "llama-server stalled"}))
        await ws.wait_closed()

    async with fake_service(fail) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        messages = await speak(tts, "one two")
    assert fake.connections == 1
    assert len(audio_chunks(messages)) == 1
    assert (
        isinstance(messages[-1], TTSErrorMessage) and "llama-server stalled" in messages[-1].message
    )


async def test_a_service_silent_after_the_end_of_text_ends_the_stream_at_the_stall_timeout() -> (
    None
):
    async def silent(ws: ServerConnection, fake: Fake) -> None:
        await ws.send(pack({"type": "Ready"}))
        async for raw in ws:
            if unpack(raw)["type"] == "Eos":
                break
            await ws.send(pack(audio()))
        await ws.wait_closed()  # audio still owed; the service says nothing more

    async with fake_service(silent) as (url, _):
        tts = OrpheusTextToSpeech(settings=settings(url, stall_timeout_s=0.3))
        messages = await asyncio.wait_for(speak(tts, "one two"), 5)
    assert len(audio_chunks(messages)) == 2
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "ORPHEUS_STALL_TIMEOUT_S" in messages[-1].message


async def test_service_closing_normally_before_eos_is_an_error() -> None:
    async def early_close(ws: ServerConnection, fake: Fake) -> None:
        await ws.send(pack({"type": "Ready"}))
        await ws.recv()
        await ws.send(pack(audio()))
        await ws.close()

    async with fake_service(early_close) as (url, _):
        tts = OrpheusTextToSpeech(settings=settings(url))
        await tts.start_up()
        await tts.send("one")
        messages: list[OutputMessage] = []
        async for message in tts:
            messages.append(message)
    assert isinstance(messages[-1], TTSErrorMessage) and "close code 1000" in messages[-1].message


async def test_empty_text_ends_cleanly_without_audio() -> None:
    async with fake_service() as (url, fake):
        messages = await speak(OrpheusTextToSpeech(settings=settings(url)), "")
    assert messages == [] and fake.eos


# -- interruption ------------------------------------------------------------------------


async def stream_forever(ws: ServerConnection, fake: Fake) -> None:
    await ws.send(pack({"type": "Ready"}))
    await ws.recv()
    while True:
        await ws.send(pack(audio()))
        await asyncio.sleep(0.01)


async def test_shutdown_mid_stream_closes_the_socket_and_the_service_sees_it_promptly() -> None:
    async with fake_service(stream_forever) as (url, fake):
        tts = OrpheusTextToSpeech(settings=settings(url))
        await tts.start_up()
        await tts.send("hello")
        received = 0
        shut_at = float("inf")
        async for message in tts:
            if isinstance(message, TTSAudioMessage):
                received += 1
                await asyncio.wait_for(tts.shutdown(), 1)
                shut_at = time.monotonic()
        await asyncio.wait_for(fake.closed.wait(), 1)
    assert received == 1 and tts.state() == "closed" and tts.metrics.interrupted
    assert fake.close_code == 1000
    assert fake.closed_at is not None and fake.closed_at - shut_at < 0.2


async def test_shutdown_leaves_no_task_behind() -> None:
    async with fake_service(stream_forever) as (url, _):
        before = set(asyncio.all_tasks())
        tts = OrpheusTextToSpeech(settings=settings(url))
        await tts.start_up()
        await tts.send("hello")
        async for _ in tts:
            await tts.shutdown()
        await wait_until(lambda: set(asyncio.all_tasks()) - before == set(), timeout_s=1)


# -- prewarm -----------------------------------------------------------------------------


async def test_prewarm_polls_health_until_the_service_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with fake_service(fake=Fake(health_status=[503, 503])) as (url, fake):
        monkeypatch.setenv("ORPHEUS_FASTAPI_URL", url)
        monkeypatch.setenv("ORPHEUS_RETRY_INITIAL_BACKOFF_S", "0.05")
        await prewarm()
    assert fake.health_requests == 3 and fake.connections == 0


async def test_prewarm_never_raises_when_the_service_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("ORPHEUS_PREWARM_TIMEOUT_S", "0.3")
    monkeypatch.setenv("ORPHEUS_RETRY_INITIAL_BACKOFF_S", "0.05")
    await prewarm()
    assert "not healthy in time" in caplog.text
