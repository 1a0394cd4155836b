"""Live: the `orpheus` backend through the Orchestrator, chosen by UNMUTE_TTS_BACKEND.

The Orchestrator never names the backend here: the environment does, as in unmute.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.live.conftest import LiveService
from unmute.tts.cli import CollectingSink
from unmute.tts.orchestrator import Orchestrator

pytestmark = pytest.mark.live

REPLY = "Of course. Orpheus is speaking through the Orchestrator now, word by word."
LONG_REPLY = " ".join(["Here is a long reply that will be cut off before it ends."] * 6)


async def llm(text: str, delay_s: float = 0.02) -> AsyncIterator[str]:
    """Deltas that cut words, at an LLM's pace."""
    for i in range(0, len(text), 7):
        await asyncio.sleep(delay_s)
        yield text[i : i + 7]


@pytest.fixture
def orpheus_env(warm: LiveService, monkeypatch: pytest.MonkeyPatch) -> LiveService:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "orpheus")
    # A cold container may still be starting: give start_up the budget a cold start needs.
    monkeypatch.setenv("ORPHEUS_STARTUP_BUDGET_S", "120")
    return warm


async def test_orchestrator_speaks_through_the_orpheus_backend(
    orpheus_env: LiveService,
) -> None:
    sink = CollectingSink()
    orchestrator = Orchestrator(sink)
    await orchestrator.prewarm()
    result = await orchestrator.speak(llm(REPLY))
    assert result.error is None
    assert result.backend == "orpheus"
    assert result.audio_s > 2.0
    assert result.ttfa_s is not None and result.ttfa_s < 5.0
    assert [w.text for w in sink.words] == result.words
    assert len(result.words) >= len(REPLY.split()) // 2
    assert result.rtf is not None and result.rtf < 1.0


async def test_interrupt_stops_orpheus_audio_at_once(orpheus_env: LiveService) -> None:
    sink = CollectingSink()
    orchestrator = Orchestrator(sink)
    speaking = asyncio.create_task(orchestrator.speak(llm(LONG_REPLY, delay_s=0.0)))
    async with asyncio.timeout(60):
        while not sink.chunks:  # noqa: ASYNC110 - polling the sink is the point
            await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await orchestrator.interrupt()
    stopped_after = loop.time() - started
    delivered = len(sink.chunks)
    result = await asyncio.wait_for(speaking, 5)
    await asyncio.sleep(0.5)
    assert result.interrupted
    assert len(sink.chunks) == delivered
    assert stopped_after < 1.0
    # The chat history keeps only what was heard: fewer words than the reply.
    assert len(result.words) < len(LONG_REPLY.split())
