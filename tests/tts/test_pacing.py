"""Pacing: audio released a fixed time ahead of real time, words when they play."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.support.waiting import FakeClock, wait_until
from unmute.tts.pacing import Pacer, paced
from unmute.tts.protocol import (
    SAMPLE_RATE,
    OutputMessage,
    TTSAudioMessage,
    TTSErrorMessage,
    TTSTextMessage,
)


def audio(seconds: float) -> TTSAudioMessage:
    return TTSAudioMessage(pcm=np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32))


def word(text: str, start_s: float) -> TTSTextMessage:
    return TTSTextMessage(text=text, start_s=start_s, stop_s=start_s + 0.1)


def test_audio_is_released_ahead_of_real_time_by_the_lead() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.3, clock)
    for i in range(10):
        pacer.put_audio(f"chunk{i}", 0.1)
    clock.now += 0.05  # audio up to 0.35 s may be out
    assert pacer.due() == ["chunk0", "chunk1", "chunk2", "chunk3"]
    clock.now += 0.5
    assert pacer.due() == ["chunk4", "chunk5", "chunk6", "chunk7", "chunk8"]


def test_words_are_released_at_their_start() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.3, clock)
    pacer.put_audio("audio", 2.0)
    pacer.put_word("one", 0.0)
    pacer.put_word("two", 0.5)
    pacer.put_word("three", 1.0)
    clock.now += 0.25
    assert pacer.due() == ["audio", "one"]
    clock.now += 0.5
    assert pacer.due() == ["two"]


def test_nothing_is_due_before_audio_starts() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.3, clock)
    pacer.put_word("early", 0.0)
    clock.now += 5
    assert pacer.due() == []
    pacer.put_audio("audio", 0.1)
    assert pacer.due() == ["audio", "early"]  # audio is due its lead before it plays


def test_items_due_at_the_same_time_keep_their_order() -> None:
    pacer: Pacer[str] = Pacer(0.0, FakeClock())
    pacer.start()
    for name in ("a", "b", "c", "d"):
        pacer.put(name, 0.0)
    assert pacer.due() == ["a", "b", "c", "d"]


def test_put_last_goes_after_everything_queued() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.0, clock)
    pacer.put_audio("a", 1.0)
    pacer.put_audio("b", 1.0)
    pacer.put_last("error")
    clock.now += 0.5
    assert pacer.due() == ["a"]
    clock.now += 0.5
    assert pacer.due() == ["b", "error"]


def test_a_negative_lead_is_refused() -> None:
    with pytest.raises(ValueError, match="ahead_s"):
        Pacer(-0.1)


def test_put_after_close_is_an_error_and_after_cancel_is_dropped() -> None:
    pacer: Pacer[str] = Pacer(0.0, FakeClock())
    pacer.close()
    with pytest.raises(RuntimeError, match="close"):
        pacer.put("late", 0.0)
    cancelled: Pacer[str] = Pacer(0.0, FakeClock())
    cancelled.cancel()
    cancelled.put("late", 0.0)
    assert len(cancelled) == 0


async def test_iteration_follows_the_given_clock() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.0, clock)
    received: list[str] = []

    async def consume() -> None:
        async for item in pacer:
            received.append(item)

    consumer = asyncio.create_task(consume())
    pacer.put_audio("a", 1.0)
    pacer.put_audio("b", 1.0)
    pacer.close()
    await wait_until(lambda: received == ["a"])
    await clock.read_again()
    assert received == ["a"], "the loop's time passing does not move a given clock"
    clock.now += 1.0
    await wait_until(lambda: received == ["a", "b"])
    await asyncio.wait_for(consumer, 1)


async def test_close_without_audio_releases_words_at_once() -> None:
    pacer: Pacer[str] = Pacer(0.3, FakeClock())
    pacer.put_word("only", 0.0)
    pacer.close()
    assert [item async for item in pacer] == ["only"]


async def test_cancel_ends_iteration_at_once() -> None:
    clock = FakeClock()
    pacer: Pacer[str] = Pacer(0.0, clock)
    pacer.put_audio("now", 1.0)
    pacer.put_audio("much later", 1.0)
    iterator = aiter(pacer)
    assert await anext(iterator) == "now"
    pacer.cancel()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(iterator), 1)


async def test_loop_clock_by_default_releases_in_real_time() -> None:
    pacer: Pacer[str] = Pacer(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(4):
        pacer.put_audio(f"chunk{i}", 0.1)
    pacer.close()
    released: list[float] = []
    async for _ in pacer:
        released.append(loop.time() - started)
    assert released[-1] >= 0.2 - 0.01  # the last chunk starts at 0.3 s, due at 0.2 s
    assert released[1] < 0.05  # the lead lets the first two out at once


async def stream(
    *messages: OutputMessage, fail: Exception | None = None
) -> AsyncIterator[OutputMessage]:
    for message in messages:
        yield message
    if fail is not None:
        raise fail


async def test_paced_stream_puts_words_between_audio_by_time() -> None:
    messages = [
        audio(0.2),
        word("one", 0.0),
        audio(0.2),
        word("two", 0.2),
        audio(0.2),
    ]
    out = [m async for m in paced(stream(*messages), Pacer(0.0))]
    kinds = [m.text if isinstance(m, TTSTextMessage) else "audio" for m in out]
    assert kinds == ["audio", "one", "audio", "two", "audio"]


async def test_paced_stream_ends_with_an_error_after_what_came_before() -> None:
    error = TTSErrorMessage(message="backend failed")
    out = [
        m async for m in paced(stream(audio(0.1), word("one", 0.0), error, audio(0.1)), Pacer(0.0))
    ]
    assert out[-1] == error and len(out) == 3


async def test_paced_stream_raises_the_source_failure_after_releasing_the_rest() -> None:
    out: list[OutputMessage] = []
    with pytest.raises(ConnectionError, match="dropped"):
        async for message in paced(stream(audio(0.1), fail=ConnectionError("dropped")), Pacer(0.0)):
            out.append(message)
    assert len(out) == 1
