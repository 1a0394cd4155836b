"""The fallback chain: any failure before the first audio moves the utterance on, none after."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest

from tests.support.fake_backend import FakeTextToSpeech
from unmute.tts import availability as av
from unmute.tts import session_metrics as mt
from unmute.tts.base import AtCapacityError, BackendError, RetryPolicy
from unmute.tts.fallback import ChainMember, FallbackPolicy, FallbackTextToSpeech
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)

WORDS = ["one", "two", "three", "four", "five"]
DEADLINE_S = 0.3
AMPLITUDE = {"a": 0.1, "b": 0.2, "c": 0.3}
"""Each member's tone peak: which one a chunk of audio came from."""
RETRY = RetryPolicy(budget_s=30.0, initial_backoff_s=0.01, max_backoff_s=0.01)


@pytest.fixture(autouse=True)
def fresh_availability() -> Iterator[None]:
    av.reset()
    yield
    av.reset()


class NeverReady(FakeTextToSpeech):
    """Opens forever (a cold start)."""

    async def _open(self) -> None:
        await asyncio.Event().wait()


class Refuses(FakeTextToSpeech):
    """Fails at start-up with `error`."""

    def __init__(self, error: Exception, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.error = error

    async def _open(self) -> None:
        raise self.error


class WordThenDrop(FakeTextToSpeech):
    """Reports its first word, then loses the connection before any audio."""

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        async for word in text:
            yield TTSTextMessage(text=word, start_s=0.0, stop_s=0.1)
            raise ConnectionError("connection lost")


class Members:
    """Fake backends `a`, `b`, `c` by name; every session made is kept."""

    def __init__(self, **makers: Callable[[str | None], FakeTextToSpeech]) -> None:
        self.makers = makers
        self.sessions: dict[str, list[FakeTextToSpeech]] = {name: [] for name in makers}
        self.voices: dict[str, list[str]] = {}
        self.made = asyncio.Condition()

    async def wait_for_sessions(self, name: str, count: int) -> None:
        """Until `count` sessions of `name` were made."""
        async with self.made:
            await self.made.wait_for(lambda: len(self.sessions[name]) >= count)

    def member(self, name: str) -> ChainMember:
        def create(voice: str | None) -> FakeTextToSpeech:
            session = self.makers[name](voice)
            self.sessions[name].append(session)
            asyncio.get_running_loop().create_task(self._notify())
            return session

        return ChainMember(name, create, voices=lambda: self.voices.get(name, []))

    async def _notify(self) -> None:
        async with self.made:
            self.made.notify_all()

    def chain(self, *names: str, voice: str | None = None, **policy: float) -> FallbackTextToSpeech:
        settings = FallbackPolicy(
            first_audio_s=policy.get("first_audio_s", DEADLINE_S),
            probe=av.ProbePolicy(interval_s=policy.get("probe_interval_s", 60.0), timeout_s=5.0),
        )
        members = [self.member(name) for name in names or self.makers]
        return FallbackTextToSpeech(members, voice, policy=settings)


def works(name: str, **kwargs: float | int | None) -> Callable[[str | None], FakeTextToSpeech]:
    def make(voice: str | None) -> FakeTextToSpeech:
        return FakeTextToSpeech(voice, amplitude=AMPLITUDE[name], retry=RETRY, **kwargs)  # type: ignore[arg-type]

    return make


def fails(factory: Callable[..., FakeTextToSpeech]) -> Callable[[str | None], FakeTextToSpeech]:
    return lambda voice: factory(voice=voice, retry=RETRY)


async def speak(
    tts: FallbackTextToSpeech, words: list[str] = WORDS, *, gap_s: float = 0.0
) -> list[OutputMessage]:
    """Drive `tts` as unmute does; everything the consumer gets."""
    await tts.start_up()

    async def feed() -> None:
        for word in words:
            await tts.send(word)
            if gap_s:
                await asyncio.sleep(gap_s)
        await tts.send(TTSClientEosMessage())

    feeder = asyncio.create_task(feed())
    received = [message async for message in tts]
    await feeder
    return received


def spoken(received: list[OutputMessage]) -> list[str]:
    return [m.text for m in received if isinstance(m, TTSTextMessage)]


def voices_heard(received: list[OutputMessage]) -> set[str]:
    """Which members' audio the consumer got."""
    heard: set[str] = set()
    for message in received:
        if isinstance(message, TTSAudioMessage):
            peak = float(np.max(np.abs(message.pcm)))
            heard |= {n for n, a in AMPLITUDE.items() if abs(peak - a) < 0.02}
    return heard


def errors(received: list[OutputMessage]) -> list[str]:
    return [m.message for m in received if isinstance(m, TTSErrorMessage)]


# -- moving on before the first audio -------------------------------------------------


async def test_a_working_first_member_speaks_alone() -> None:
    members = Members(a=works("a"), b=works("b"))
    tts = members.chain()
    received = await speak(tts)
    assert spoken(received) == WORDS and voices_heard(received) == {"a"}
    assert members.sessions["b"] == []
    assert tts.speaker == "a"


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        (fails(lambda **kw: Refuses(BackendError("refused"), **kw)), "start-up"),
        (fails(lambda **kw: FakeTextToSpeech(fail_opens=1000, **kw)), "start-up"),
        (fails(lambda **kw: Refuses(AtCapacityError("no free channels"), **kw)), "at-capacity"),
        (fails(lambda **kw: FakeTextToSpeech(fail_after_words=0, **kw)), "error"),
        (fails(lambda **kw: FakeTextToSpeech(silent=True, **kw)), "error"),
        (fails(NeverReady), "first-audio-deadline"),
        (fails(lambda **kw: FakeTextToSpeech(chunk_delay_s=5.0, **kw)), "first-audio-deadline"),
    ],
    ids=[
        "start-up-error",
        "start-up-retrying",
        "at-capacity",
        "connection-lost",
        "no-audio",
        "start-up-timeout",
        "late-first-audio",
    ],
)
async def test_a_failure_before_the_first_audio_moves_the_whole_utterance_on(
    failing: Callable[[str | None], FakeTextToSpeech], reason: str
) -> None:
    tts = Members(a=failing, b=works("b")).chain()
    received = await speak(tts)
    assert errors(received) == []
    assert spoken(received) == WORDS
    assert voices_heard(received) == {"b"}
    assert tts.speaker == "b"
    assert {(reason, "a", "b"): 1} == av.FALLBACKS


async def test_words_sent_during_the_switch_are_spoken_once_in_order() -> None:
    members = Members(a=fails(NeverReady), b=works("b"))
    words = [f"w{i}" for i in range(12)]
    received = await speak(members.chain(first_audio_s=0.1), words, gap_s=0.02)
    assert spoken(received) == words
    b = members.sessions["b"][0]
    assert b.metrics.words_sent == len(words)


async def test_words_a_member_reported_before_failing_never_reach_the_consumer() -> None:
    members = Members(a=fails(WordThenDrop), b=works("b"))
    received = await speak(members.chain())
    assert spoken(received) == WORDS  # a's first word is not there twice
    assert members.sessions["a"][0].metrics.words_spoken == 1


async def test_no_audio_of_a_late_member_ever_reaches_the_consumer() -> None:
    members = Members(a=works("a", chunk_delay_s=0.5), b=works("b", chunk_delay_s=0.05))
    received = await speak(members.chain(first_audio_s=0.2), gap_s=0.1)
    late = members.sessions["a"][0]
    assert late.state() == "closed" and late.closed == 1
    assert voices_heard(received) == {"b"}
    assert late.metrics.audio_s == 0.0  # closed before its first chunk was made


async def test_the_last_member_tried_is_never_cut_by_the_deadline() -> None:
    members = Members(a=fails(NeverReady), b=works("b", chunk_delay_s=0.4))
    received = await speak(members.chain(first_audio_s=0.1))
    assert spoken(received) == WORDS and voices_heard(received) == {"b"}


async def test_start_up_returns_at_once_while_the_first_member_is_still_cold() -> None:
    tts = Members(a=fails(NeverReady), b=works("b")).chain()
    async with asyncio.timeout(0.05):
        await tts.start_up()
    assert tts.state() == "connected"
    await tts.shutdown()


# -- after the first audio --------------------------------------------------------------


async def test_a_failure_after_the_first_audio_ends_the_stream_with_an_error() -> None:
    members = Members(a=works("a", fail_after_words=2), b=works("b"))
    received = await speak(members.chain())
    assert spoken(received) == WORDS[:2]
    assert len(errors(received)) == 1 and received[-1] == TTSErrorMessage(
        message=errors(received)[0]
    )
    assert "connection dropped" in errors(received)[0]
    assert voices_heard(received) == {"a"}
    assert members.sessions["b"] == []
    assert av.is_available("a")


# -- availability -----------------------------------------------------------------------


async def test_a_failed_member_is_skipped_by_the_next_utterance() -> None:
    members = Members(a=fails(lambda **kw: Refuses(BackendError("down"), **kw)), b=works("b"))
    await speak(members.chain())
    assert not av.is_available("a")
    received = await speak(members.chain())
    assert voices_heard(received) == {"b"}
    assert len(members.sessions["a"]) == 1  # not even tried the second time


async def test_a_member_is_used_again_once_a_probe_speaks_through_it() -> None:
    broken = {"a": True}

    def a(voice: str | None) -> FakeTextToSpeech:
        if broken["a"]:
            return Refuses(BackendError("down"), voice=voice, retry=RETRY)
        return works("a")(voice)

    members = Members(a=a, b=works("b"))
    first = await speak(members.chain(probe_interval_s=0.05))
    assert voices_heard(first) == {"b"}
    broken["a"] = False
    probe = av.availability("a").probe_task
    assert probe is not None
    await asyncio.wait_for(probe, timeout=5)
    assert av.is_available("a")
    later = await speak(members.chain())
    assert voices_heard(later) == {"a"}


async def test_a_probe_that_fails_keeps_the_member_unavailable_with_the_reason() -> None:
    members = Members(a=fails(lambda **kw: Refuses(BackendError("down"), **kw)), b=works("b"))
    await speak(members.chain(probe_interval_s=0.01))
    await asyncio.wait_for(members.wait_for_sessions("a", 3), timeout=5)  # 1 + 2 probes
    state = av.availability("a")
    assert not state.available and "down" in (state.reason or "")


async def test_a_member_missing_its_deadline_is_prewarmed_in_the_background() -> None:
    warmed = asyncio.Event()

    async def prewarm() -> None:
        warmed.set()

    members = Members(a=fails(NeverReady), b=works("b"))
    chain = members.chain()
    chain.members[0] = ChainMember("a", chain.members[0].create, prewarm=prewarm)
    await speak(chain)
    await asyncio.wait_for(warmed.wait(), timeout=2)


async def test_with_every_member_unavailable_all_are_tried_in_order() -> None:
    av.mark_unavailable("a", "down earlier")
    av.mark_unavailable("b", "down earlier")
    members = Members(a=works("a"), b=works("b"))
    received = await speak(members.chain())
    assert voices_heard(received) == {"a"}
    assert av.is_available("a") and not av.is_available("b")


async def test_available_members_go_before_unavailable_ones() -> None:
    av.mark_unavailable("a", "down earlier")
    members = Members(a=fails(lambda **kw: Refuses(BackendError("down"), **kw)), b=works("b"))
    received = await speak(members.chain())
    assert voices_heard(received) == {"b"} and members.sessions["a"] == []


async def test_when_every_member_fails_the_stream_ends_with_one_error_naming_each() -> None:
    down = fails(lambda **kw: Refuses(BackendError("down"), **kw))
    received = await speak(Members(a=down, b=down).chain())
    assert spoken(received) == [] and voices_heard(received) == set()
    [message] = errors(received)
    assert "a: start-up" in message and "b: start-up" in message


# -- voices, metrics, logs ----------------------------------------------------------------


async def test_the_voice_goes_to_the_first_member_and_to_others_only_if_they_list_it() -> None:
    members = Members(a=fails(NeverReady), b=works("b"), c=works("c"))
    members.voices["c"] = ["tara"]
    await speak(members.chain("a", "b", voice="tara"))
    await speak(members.chain("a", "c", voice="tara"))
    assert members.sessions["a"][0].voice == "tara"
    assert members.sessions["b"][0].voice is None
    assert members.sessions["c"][0].voice == "tara"


async def test_each_fallback_is_logged_and_counted_with_reason_and_members(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="unmute.tts.fallback")
    await speak(Members(a=fails(NeverReady), b=works("b")).chain())
    assert "TTS fallback a -> b (first-audio-deadline)" in caplog.text
    assert av.FALLBACKS[("first-audio-deadline", "a", "b")] == 1


async def test_the_utterance_metrics_name_the_member_that_spoke() -> None:
    published: list[mt.TTSMetrics] = []
    mt.add_metrics_listener(published.append)
    try:
        await speak(Members(a=fails(NeverReady), b=works("b")).chain())
    finally:
        mt.remove_metrics_listener(published.append)
    [utterance] = [m for m in published if m.chain == "a,b" and m.fallbacks]
    assert utterance.backend == "b"
    assert utterance.fallbacks == ["a -> b (first-audio-deadline)"]
    assert utterance.words_spoken == len(WORDS) and utterance.ttfa_s is not None


async def test_shutdown_mid_switch_closes_every_member_and_ends_the_stream() -> None:
    members = Members(a=fails(NeverReady), b=works("b", chunk_delay_s=0.2))
    tts = members.chain(first_audio_s=0.05)
    await tts.start_up()
    await tts.send("hello")
    await asyncio.wait_for(members.wait_for_sessions("b", 1), timeout=5)
    await tts.shutdown()
    assert [m async for m in tts] == []
    assert all(s.state() == "closed" for s in members.sessions["a"] + members.sessions["b"])
