"""Each backend's standing in the process, and the one-word probe that brings it back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_backend import FakeTextToSpeech
from tests.support.waiting import wait_until
from unmute.tts import availability as av
from unmute.tts.base import RetryPolicy


@pytest.fixture(autouse=True)
def fresh_standing() -> Iterator[None]:
    av.reset()
    yield
    av.reset()


def test_a_backend_is_available_until_marked_otherwise() -> None:
    assert av.is_available("a")
    assert av.availability("a").describe() == "available"


async def test_marking_unavailable_keeps_the_reason_until_marked_available() -> None:
    av.mark_unavailable("a", "refused")
    assert not av.is_available("a")
    assert av.availability("a").describe() == "unavailable: refused"
    av.mark_available("a")
    assert av.is_available("a") and av.availability("a").reason is None


async def test_a_probe_through_a_working_backend_finds_no_problem() -> None:
    assert await av.probe(FakeTextToSpeech, timeout_s=5) is None


async def test_a_probe_reports_why_a_backend_gave_no_audio() -> None:
    assert await av.probe(lambda: FakeTextToSpeech(silent=True), timeout_s=5) is not None


async def test_a_probe_that_cannot_create_a_session_says_so() -> None:
    def broken() -> FakeTextToSpeech:
        raise RuntimeError("no such voice")

    assert await av.probe(broken, timeout_s=5) == "cannot create a session: no such voice"


async def test_a_backend_never_ready_fails_its_probe_within_the_timeout() -> None:
    never = RetryPolicy(budget_s=60, initial_backoff_s=0.01)
    reason = await av.probe(lambda: FakeTextToSpeech(fail_opens=10**6, retry=never), 0.1)
    assert reason == "no audio within 0.1 s"


async def test_with_a_prober_a_probe_brings_the_backend_back() -> None:
    policy = av.ProbePolicy(interval_s=0.01, timeout_s=5)
    av.mark_unavailable("a", "refused", prober=FakeTextToSpeech, policy=policy)
    await wait_until(lambda: av.is_available("a"))


def test_fallbacks_are_counted_by_reason_and_members() -> None:
    av.count_fallback("first-audio-deadline", "a", "b")
    av.count_fallback("first-audio-deadline", "a", "b")
    assert av.FALLBACKS[("first-audio-deadline", "a", "b")] == 2
