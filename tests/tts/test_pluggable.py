"""The drop-in for unmute's TTS client (`unmute.tts.pluggable`), outside unmute: what
its handler relies on, pacing on its clock, start-up inside discovery's 0.5 s, shutdown."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.fake_backend import WORD_S, FakeTextToSpeech
from tests.support.fake_unmute import Recorder, client, collect, say, words
from tests.support.waiting import FakeClock, wait_until
from unmute.tts import pluggable, upstream
from unmute.tts.base import AtCapacityError, RetryPolicy
from unmute.tts.conformance import CHECKS, Check, check_id
from unmute.tts.pluggable import (
    AUDIO_BUFFER_SEC,
    TextToSpeech,
    TTSAudioMessage,
    TTSErrorMessage,
    TTSTextMessage,
)
from unmute.tts.protocol import OutputMessage


@pytest.fixture(autouse=True)
def outside_unmute() -> Iterator[None]:
    upstream.refresh()
    yield
    upstream.refresh()


# -- what unmute's handler imports and checks ---------------------------------------


def test_exports_what_unmute_imports_from_its_client() -> None:
    for name in (
        "TextToSpeech",
        "TTSAudioMessage",
        "TTSTextMessage",
        "TTSClientEosMessage",
        "TTSClientTextMessage",
        "TTSErrorMessage",
        "TTSReadyMessage",
        "prepare_text_for_tts",
    ):
        assert name in pluggable.__all__ and hasattr(pluggable, name)


async def test_messages_pass_the_handlers_isinstance_checks_and_array_conversion() -> None:
    tts = client()
    await tts.start_up()
    await say(tts, "hello there")
    messages = await collect(tts)
    audio = [m for m in messages if isinstance(m, TTSAudioMessage)]
    assert audio and words(messages) == ["hello", "there"]
    array = np.array(audio[0].pcm, dtype=np.float32)
    assert array.dtype == np.float32 and array.ndim == 1 and len(array) > 0
    assert all(m.type in ("Audio", "Text") for m in messages)


async def test_keeps_the_voice_it_was_given() -> None:
    tts = TextToSpeech("ws://unused", voice="unmute-prod-website/p329_022.wav", backend="fixture")
    assert tts.voice == "unmute-prod-website/p329_022.wav"


async def test_state_goes_from_not_created_to_closed() -> None:
    tts = client()
    assert tts.state() == "not_created"
    await tts.start_up()
    assert tts.state() == "connected"
    await say(tts, "one")
    await collect(tts)
    assert tts.state() == "closed"


async def test_counts_samples_received_and_released() -> None:
    clock = FakeClock()
    tts = client(get_time=clock)
    await tts.start_up()
    await say(tts, "one two three four five six")
    iterator = aiter(tts)
    first = await anext(iterator)
    assert isinstance(first, TTSAudioMessage)
    await wait_until(lambda: tts.received_samples == round(6 * WORD_S * 24000))  # all arrived
    assert tts.received_samples_yielded == len(first.pcm)  # the clock has not moved
    clock.now += 10
    rest = [m async for m in iterator]
    assert tts.received_samples_yielded == tts.received_samples
    assert len(words([first, *rest])) == 6


async def test_a_recorder_outside_unmute_gets_no_events() -> None:
    recorder = Recorder()
    tts = client(recorder=recorder)
    await tts.start_up()
    await say(tts, "one")
    await collect(tts)
    assert recorder.events == []


# -- pacing --------------------------------------------------------------------------


async def test_audio_runs_only_the_buffer_ahead_and_words_wait_for_their_start() -> None:
    clock = FakeClock()
    tts = client(get_time=clock)
    await tts.start_up()
    await say(tts, "one two three four five six seven eight")  # 0.1 s per word
    released: list[OutputMessage] = []

    async def consume() -> None:
        async for message in tts:
            released.append(message)

    consumer = asyncio.create_task(consume())
    await wait_until(lambda: bool(released))
    await clock.read_again()
    audio_s = sum(len(m.pcm) for m in released if isinstance(m, TTSAudioMessage)) / 24000
    assert audio_s == pytest.approx(AUDIO_BUFFER_SEC + 0.05, abs=0.051)
    assert words(released) == ["one"]
    clock.now = 0.25
    await clock.read_again()
    assert words(released) == ["one", "two", "three"]
    clock.now = 100
    await asyncio.wait_for(consumer, 2)
    assert len(words(released)) == 8


async def test_after_an_interruption_only_the_words_released_so_far_were_heard() -> None:
    clock = FakeClock()
    tts = client(get_time=clock)
    await tts.start_up()
    await say(tts, "one two three four five six seven eight")
    heard: list[str] = []

    async def handler_loop() -> None:
        async for message in tts:
            if isinstance(message, TTSTextMessage):
                heard.append(message.text)

    loop_task = asyncio.create_task(handler_loop())
    await wait_until(lambda: tts.received_samples_yielded > 0)  # the clock counts from here
    clock.now = 0.35
    await clock.read_again()
    loop_task.cancel()  # unmute's interrupt_bot removes the quest, then shuts down
    await tts.shutdown()
    await asyncio.gather(loop_task, return_exceptions=True)
    assert heard == ["one", "two", "three", "four"]


# -- start-up inside discovery's 0.5 s ------------------------------------------------


class SlowToStart(FakeTextToSpeech):
    def __init__(self, ready_after_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ready_after_s = ready_after_s

    async def _open(self) -> None:
        await asyncio.sleep(self.ready_after_s)


@pytest.mark.slow
async def test_a_backend_taking_5_s_to_be_ready_keeps_the_words_sent_meanwhile() -> None:
    backend = SlowToStart(5.0)
    tts = client(backend)
    started = time.monotonic()
    await asyncio.wait_for(tts.start_up(), 0.5)
    assert time.monotonic() - started < 0.5
    assert tts.state() == "connecting"
    await say(tts, "spoken after the cold start")
    messages = await asyncio.wait_for(collect(tts), 10)
    assert words(messages) == ["spoken", "after", "the", "cold", "start"]
    assert not any(isinstance(m, TTSErrorMessage) for m in messages)


async def test_a_backend_never_ready_ends_the_stream_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_STARTUP_TIMEOUT_S", "0.5")
    backend = SlowToStart(3600, retry=RetryPolicy(budget_s=0.5))
    tts = client(backend)
    await tts.start_up()
    await say(tts, "never spoken")
    messages = await asyncio.wait_for(collect(tts), 5)
    assert len(messages) == 1 and isinstance(messages[0], TTSErrorMessage)
    assert "not ready" in messages[0].message
    assert backend.state() == "closed" and tts.state() == "closed"


async def test_a_backend_that_fails_to_start_ends_the_stream_with_an_error() -> None:
    class Broken(FakeTextToSpeech):
        async def _open(self) -> None:
            raise ValueError("bad configuration")

    tts = client(Broken())
    await tts.start_up()
    messages = await asyncio.wait_for(collect(tts), 5)
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "bad configuration" in messages[-1].message


async def test_an_unknown_backend_ends_the_stream_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "no-such-backend")
    tts = TextToSpeech()
    await tts.start_up()
    messages = await asyncio.wait_for(collect(tts), 5)
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "no-such-backend" in messages[-1].message


class Refusing(FakeTextToSpeech):
    async def _open(self) -> None:
        self.opens += 1
        raise AtCapacityError("no free channels")


async def test_a_capacity_refusal_outside_unmute_is_retried_in_the_background() -> None:
    backend = Refusing(retry=RetryPolicy(budget_s=5, initial_backoff_s=0.05))
    tts = client(backend)
    await asyncio.wait_for(tts.start_up(), 0.5)
    assert tts.state() == "connecting"
    await wait_until(lambda: backend.opens >= 2)
    await tts.shutdown()
    assert backend.state() == "closed"


async def test_a_backend_failing_to_take_a_word_ends_the_stream_with_an_error() -> None:
    class Deaf(FakeTextToSpeech):
        async def send(self, message: object) -> None:
            raise RuntimeError("cannot take text")

    backend = Deaf()
    tts = client(backend)
    await tts.start_up()
    await say(tts, "hello")
    messages = await asyncio.wait_for(collect(tts), 5)
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "cannot take text" in messages[-1].message
    assert backend.state() == "closed"


# -- shutdown -------------------------------------------------------------------------


async def test_shutdown_is_idempotent_and_releases_the_backend() -> None:
    backend = FakeTextToSpeech()
    tts = client(backend)
    await tts.start_up()
    await tts.shutdown()
    await tts.shutdown()
    assert tts.state() == "closed" and backend.state() == "closed" and backend.closed == 1


async def test_send_after_shutdown_is_ignored() -> None:
    tts = client()
    await tts.start_up()
    await tts.shutdown()
    await tts.send("late")  # no exception, as upstream's client
    assert await asyncio.wait_for(collect(tts), 1) == []


async def test_shutdown_during_a_slow_start_releases_the_backend() -> None:
    backend = SlowToStart(3600)
    tts = client(backend)
    await tts.start_up()
    await asyncio.wait_for(tts.shutdown(), 1)
    assert backend.state() == "closed"


# -- the drop-in is itself a TextToSpeech -------------------------------------------


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_drop_in_keeps_the_backend_contract(
    check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    fast_clock = itertools.count(step=100.0)  # every look at the clock: 100 s later
    await check(lambda: TextToSpeech(backend="fixture", get_time=lambda: next(fast_clock)))
