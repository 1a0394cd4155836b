"""The Orchestrator, offline: fixture backend chosen by environment, fake one for timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.fake_backend import FakeTextToSpeech
from tests.support.waiting import wait_until
from unmute.tts.cli import CollectingSink
from unmute.tts.orchestrator import Orchestrator, split_words

FIXTURE_TEXT = "Hello from unmute."


async def llm(text: str, pieces: int = 3, delay_s: float = 0.0) -> AsyncIterator[str]:
    """Stream `text` in fragments that cut words, as an LLM does."""
    step = max(1, len(text) // pieces)
    for i in range(0, len(text), step):
        if delay_s:
            await asyncio.sleep(delay_s)
        yield text[i : i + step]


def test_split_words_keeps_the_unfinished_tail() -> None:
    assert split_words("Hello wor") == (["Hello"], "wor")
    assert split_words("Hel") == ([], "Hel")


async def test_speaks_fixture_text_chosen_through_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "fixture")
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    sink = CollectingSink()
    result = await Orchestrator(sink).speak(llm(FIXTURE_TEXT))
    assert result.error is None
    assert result.backend == "fixture"
    assert result.audio_s > 0.5
    assert [w.text for w in sink.words] == result.words
    assert " ".join(result.words).rstrip(".").lower() == FIXTURE_TEXT.rstrip(".").lower()


async def test_records_time_to_first_audio_and_real_time_factor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "fixture")
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    result = await Orchestrator(CollectingSink()).speak(llm(FIXTURE_TEXT))
    assert result.ttfa_s is not None and 0 <= result.ttfa_s < 1
    assert result.rtf is not None and result.rtf > 0


async def test_words_are_sent_whole_even_when_deltas_cut_them() -> None:
    sent: list[str] = []
    tts = FakeTextToSpeech()
    original = tts.send

    async def spy(message: object) -> None:
        if isinstance(message, str):
            sent.append(message)
        await original(message)  # type: ignore[arg-type]

    tts.send = spy  # type: ignore[method-assign]
    await Orchestrator(CollectingSink(), backend="fixture", tts_factory=lambda: tts).speak(
        llm("alpha beta gamma delta", pieces=7)
    )
    assert sent == ["alpha", "beta", "gamma", "delta"]


async def test_interrupt_stops_output_within_50_ms_and_leaves_no_task() -> None:
    sink = CollectingSink()
    tts = FakeTextToSpeech(chunk_delay_s=0.02)
    orchestrator = Orchestrator(sink, backend="fixture", tts_factory=lambda: tts)
    before = set(asyncio.all_tasks())
    speaking = asyncio.create_task(
        orchestrator.speak(llm("one two three four five six seven eight"))
    )
    await wait_until(lambda: bool(sink.chunks))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await orchestrator.interrupt()
    stopped_after = loop.time() - started
    delivered = len(sink.chunks)
    result = await asyncio.wait_for(speaking, 1)
    assert stopped_after < 0.05
    assert len(sink.chunks) == delivered
    assert result.interrupted
    assert tts.state() == "closed"
    assert set(asyncio.all_tasks()) - before - {asyncio.current_task()} == set()


async def test_backend_error_is_reported_in_the_result() -> None:
    tts = FakeTextToSpeech(fail_after_words=1)
    result = await Orchestrator(CollectingSink(), backend="fixture", tts_factory=lambda: tts).speak(
        llm("one two three")
    )
    assert result.error is not None and "connection dropped" in result.error
    assert result.words == ["one"]


async def test_pacing_releases_audio_no_faster_than_real_time() -> None:
    sink = CollectingSink()
    orchestrator = Orchestrator(
        sink, backend="fixture", tts_factory=FakeTextToSpeech, pace_ahead_s=0.0
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await orchestrator.speak(llm("one two three"))
    assert loop.time() - started >= result.audio_s - 0.1


async def test_backend_error_ends_speech_without_waiting_for_the_llm() -> None:
    tts = FakeTextToSpeech(fail_after_words=1)
    never = asyncio.Event()

    async def stalled_llm() -> AsyncIterator[str]:
        yield "one two three "
        await never.wait()  # the LLM is still thinking when the TTS fails

    orchestrator = Orchestrator(CollectingSink(), backend="fixture", tts_factory=lambda: tts)
    result = await asyncio.wait_for(orchestrator.speak(stalled_llm()), 1)
    assert result.error is not None and "connection dropped" in result.error
    assert result.words == ["one"]


async def test_interrupt_during_start_up_speaks_nothing_and_reads_no_text() -> None:
    opening = asyncio.Event()

    class SlowOpening(FakeTextToSpeech):
        async def _open(self) -> None:
            self.opens += 1
            opening.set()
            await asyncio.Event().wait()  # never opens: the interruption comes first

    sink = CollectingSink()
    tts = SlowOpening()
    read: list[str] = []

    async def deltas() -> AsyncIterator[str]:
        for delta in ["one ", "two ", "three"]:
            read.append(delta)
            yield delta

    orchestrator = Orchestrator(sink, backend="fixture", tts_factory=lambda: tts)
    speaking = asyncio.create_task(orchestrator.speak(deltas()))
    await opening.wait()
    await orchestrator.interrupt()
    result = await asyncio.wait_for(speaking, 1)
    assert result.interrupted
    assert (read, sink.chunks, sink.words) == ([], [], [])
    assert tts.state() == "closed"
    assert (tts.opens, tts.closed) == (1, 1)
