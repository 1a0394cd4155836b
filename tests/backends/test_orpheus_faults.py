"""The `orpheus` backend's faults against a local fake of the service's WebSocket: not up
yet, HTTP 503 cold start, "no free channels", a stalled handshake, a dropped connection
after audio, a stall; interruption and prewarm."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from websockets.asyncio.server import ServerConnection

from backends.orpheus import prewarm
from backends.orpheus.client import OrpheusTextToSpeech
from tests.support.orpheus_fake_ws import (
    Fake,
    Handler,
    audio,
    audio_chunks,
    errors,
    fake_service,
    free_port,
    pack,
    settings,
    speak_words,
    unpack,
)
from tests.support.sessions import speak
from tests.support.waiting import wait_until
from unmute.tts.base import BackendError
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSErrorMessage,
)

pytestmark = pytest.mark.usefixtures("isolated_env")


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
