"""Shared behaviour of BaseTextToSpeech, specified through a fake backend."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.fake_backend import WORD_S, FakeTextToSpeech
from tests.support.sessions import speak
from tests.support.waiting import wait_until
from unmute.tts import session_metrics as mt
from unmute.tts.base import BackendError, RetryPolicy, prepare_text_for_tts
from unmute.tts.protocol import (
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSTextMessage,
)


def test_fake_backend_satisfies_the_protocol() -> None:
    assert isinstance(FakeTextToSpeech(), TextToSpeech)


async def test_state_goes_from_not_created_to_closed() -> None:
    tts = FakeTextToSpeech()
    assert tts.state() == "not_created"
    await tts.start_up()
    assert tts.state() == "connected"
    await tts.shutdown()
    assert tts.state() == "closed"


async def test_messages_arrive_in_order_and_stream_ends_after_eos() -> None:
    messages = await speak(FakeTextToSpeech(), "one two")
    words = [m.text for m in messages if isinstance(m, TTSTextMessage)]
    audio = sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage))
    assert words == ["one", "two"]
    assert audio == pytest.approx(2 * WORD_S * 24000, rel=0.01)


async def test_no_audio_for_non_empty_text_is_an_error() -> None:
    messages = await speak(FakeTextToSpeech(silent=True), "hello")
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "no audio" in messages[-1].message


async def test_empty_text_ends_without_error() -> None:
    messages = await speak(FakeTextToSpeech(), "")
    assert messages == []


async def test_failure_after_audio_becomes_final_error_message() -> None:
    messages = await speak(FakeTextToSpeech(fail_after_words=1), "one two three")
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "connection dropped" in messages[-1].message
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["one"]


async def test_start_up_retries_retryable_errors_within_budget() -> None:
    tts = FakeTextToSpeech(fail_opens=2, retry=RetryPolicy(budget_s=2, initial_backoff_s=0.01))
    await tts.start_up()
    assert tts.opens == 3
    assert tts.metrics.retries == 2
    await tts.shutdown()


async def test_start_up_gives_up_when_budget_is_spent() -> None:
    tts = FakeTextToSpeech(fail_opens=100, retry=RetryPolicy(budget_s=0.2, initial_backoff_s=0.05))
    with pytest.raises(BackendError, match="not ready within"):
        await tts.start_up()
    assert tts.state() == "closed"
    assert tts.closed == 1


async def test_shutdown_mid_stream_stops_output_at_once() -> None:
    tts = FakeTextToSpeech(chunk_delay_s=0.05)
    await tts.start_up()
    for word in ["a", "b", "c", "d", "e", "f", "g", "h"]:
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    received: list[object] = []

    async def consume() -> None:
        async for message in tts:
            received.append(message)

    consumer = asyncio.create_task(consume())
    await wait_until(lambda: len(received) >= 2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tts.shutdown()
    await asyncio.wait_for(consumer, 1)
    assert loop.time() - started < 0.05
    assert tts.metrics.interrupted
    assert len(received) < 16  # the consumer has ended: nothing more can arrive


async def test_shutdown_is_idempotent() -> None:
    tts = FakeTextToSpeech()
    await tts.start_up()
    await tts.shutdown()
    await tts.shutdown()
    assert tts.closed == 1


async def test_send_after_shutdown_is_ignored() -> None:
    tts = FakeTextToSpeech()
    await tts.start_up()
    await tts.shutdown()
    await tts.send("late")
    assert tts.metrics.words_sent == 0


async def test_send_before_start_up_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="start_up"):
        await FakeTextToSpeech().send("early")


async def test_client_text_message_is_sent_as_is() -> None:
    messages = await speak_messages([TTSClientTextMessage(text="*bold*")])
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["*bold*"]


async def speak_messages(items: list[TTSClientTextMessage]) -> list[object]:
    tts = FakeTextToSpeech()
    await tts.start_up()
    for item in items:
        await tts.send(item)
    await tts.send(TTSClientEosMessage())
    return [m async for m in tts]


def test_raw_words_are_cleaned_like_unmute() -> None:
    assert prepare_text_for_tts(" *“Hi”* ") == '"Hi"'


async def test_metrics_record_time_to_first_audio_and_audio_seconds() -> None:
    published: list[mt.TTSMetrics] = []
    mt.add_metrics_listener(published.append)
    try:
        await speak(FakeTextToSpeech(), "one two three")
    finally:
        mt.remove_metrics_listener(published.append)
    (metrics,) = published
    assert metrics.ttfa_s is not None and metrics.ttfa_s >= 0
    assert metrics.audio_s == pytest.approx(3 * WORD_S, rel=0.01)
    assert metrics.words_sent == 3 and metrics.words_spoken == 3
    assert metrics.rtf is not None


async def test_spoken_words_track_what_the_consumer_received() -> None:
    tts = FakeTextToSpeech()
    await speak(tts, "one two")
    assert tts.spoken_text() == "one two"


class SlowOpeningTextToSpeech(FakeTextToSpeech):
    """Opens once the test sets `may_open`, as a cold-starting service; `opening` is set
    once it began."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = asyncio.Event()
        self.may_open = asyncio.Event()

    async def _open(self) -> None:
        self.opening.set()
        await self.may_open.wait()
        await super()._open()


async def test_shutdown_during_start_up_keeps_the_session_closed() -> None:
    tts = SlowOpeningTextToSpeech()
    starting = asyncio.create_task(tts.start_up())
    await tts.opening.wait()
    await tts.shutdown()
    tts.may_open.set()  # the service comes up after the shutdown
    await asyncio.wait_for(starting, 1)
    assert tts.state() == "closed"
    assert (tts.opens, tts.closed) == (1, 1)
    assert [message async for message in tts] == []


async def test_shutdown_during_start_up_stops_the_retries() -> None:
    tts = FakeTextToSpeech(fail_opens=1000, retry=RetryPolicy(budget_s=5, initial_backoff_s=0.02))
    starting = asyncio.create_task(tts.start_up())
    await wait_until(lambda: tts.opens >= 1)
    await tts.shutdown()
    await asyncio.wait_for(starting, 0.5)
    assert tts.state() == "closed"
    assert tts.closed == 1


async def test_start_up_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMUTE_TTS_STARTUP_TIMEOUT_S", "0.2")
    tts = FakeTextToSpeech(fail_opens=1000)
    with pytest.raises(BackendError, match=r"within 0\.2 s"):
        await asyncio.wait_for(tts.start_up(), 2)


async def test_failed_start_up_publishes_its_metrics_once() -> None:
    published: list[mt.TTSMetrics] = []
    mt.add_metrics_listener(published.append)
    try:
        tts = FakeTextToSpeech(fail_opens=1000, retry=RetryPolicy(budget_s=0.05))
        with pytest.raises(BackendError):
            await tts.start_up()
        await tts.shutdown()
    finally:
        mt.remove_metrics_listener(published.append)
    assert len(published) == 1
    assert published[0].errors == 1 and published[0].finished_at is not None
