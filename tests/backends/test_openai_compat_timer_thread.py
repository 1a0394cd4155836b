"""The `openai` backend's word timer runs beside the audio: audio never waits for it
(with no word hold), words still come complete and in order, shutdown does not wait."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable, Sequence

import pytest

from backends.openai_compat import session as session_module
from tests.backends.openai_support import errors, session, speak, words
from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.protocol import FloatArray, OutputMessage, TTSAudioMessage, TTSClientEosMessage
from unmute.tts.word_timer import MAX_LOOKAHEAD_S, TimedWord
from unmute.tts.word_timer.proportional import ProportionalWordTimer

Factory = Callable[..., OpenAISpeechServer]
TEXT = "Hello there, this is a test. It has two sentences."
WAIT_S = 10.0
"""Longest a gated call waits: a failing test ends instead of hanging."""
SERVER_THREAD = "uvicorn-test"
"""The stand-in server's thread (its complaints about a closed client are not ours)."""


class GatedTimer(ProportionalWordTimer):
    """A real estimator whose chosen call waits for `gate` (and may then fail)."""

    def __init__(self, gated: str, *, fail: bool = False) -> None:
        super().__init__(lookahead_s=MAX_LOOKAHEAD_S)
        self.gated = gated
        self.fail = fail
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.left = threading.Event()
        self.threads: set[int] = set()

    def begin_piece(self, words: Sequence[str]) -> None:
        self._pass("begin_piece")
        super().begin_piece(words)

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]:
        self._pass("push_audio")
        return super().push_audio(pcm)

    def _pass(self, call: str) -> None:
        self.threads.add(threading.get_ident())
        if call != self.gated or self.gate.is_set():
            return
        self.entered.set()
        try:
            assert self.gate.wait(WAIT_S), "the test never opened the gate"
            if self.fail:
                raise RuntimeError("the word timer failed after shutdown")
        finally:
            self.left.set()


@pytest.fixture
def use_timer(monkeypatch: pytest.MonkeyPatch) -> Callable[[GatedTimer], GatedTimer]:
    def use(timer: GatedTimer) -> GatedTimer:
        monkeypatch.setattr(session_module, "create_word_timer", lambda **_: timer)
        return timer

    return use


async def _start(server: OpenAISpeechServer) -> session_module.OpenAITextToSpeech:
    tts = session(server.url)
    await tts.start_up()
    for word in TEXT.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    return tts


async def test_the_first_audio_does_not_wait_for_the_word_timer(
    openai_server_factory: Factory, use_timer: Callable[[GatedTimer], GatedTimer]
) -> None:
    timer = use_timer(GatedTimer("begin_piece"))
    tts = await _start(openai_server_factory())
    try:
        messages: list[OutputMessage] = []
        async for message in tts:
            messages.append(message)
            if isinstance(message, TTSAudioMessage):
                break
        assert not timer.left.is_set(), "begin_piece finished before the first audio"
        assert isinstance(messages[0], TTSAudioMessage)
    finally:
        timer.gate.set()
    await tts.shutdown()


async def test_words_decided_after_their_audio_still_come_complete_and_in_order(
    openai_server_factory: Factory, use_timer: Callable[[GatedTimer], GatedTimer]
) -> None:
    timer = use_timer(GatedTimer("begin_piece"))
    tts = await _start(openai_server_factory())
    messages: list[OutputMessage] = []
    try:
        async for message in tts:
            messages.append(message)
            if isinstance(message, TTSAudioMessage) and not timer.gate.is_set():
                timer.gate.set()  # the timer starts once audio went out
    finally:
        timer.gate.set()
    said = words(messages)
    assert errors(messages) == []
    assert [w.text for w in said] == TEXT.split()
    starts = [w.start_s for w in said]
    assert starts == sorted(starts)


async def test_the_word_timer_never_runs_on_the_event_loops_thread(
    openai_server_factory: Factory, use_timer: Callable[[GatedTimer], GatedTimer]
) -> None:
    timer = use_timer(GatedTimer("none"))
    messages = await speak(session(openai_server_factory().url), TEXT)
    assert [w.text for w in words(messages)] == TEXT.split()
    assert timer.threads
    assert threading.get_ident() not in timer.threads


async def test_shutdown_while_the_timer_is_busy_returns_at_once_with_no_audio_after(
    openai_server_factory: Factory,
    use_timer: Callable[[GatedTimer], GatedTimer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    timer = use_timer(GatedTimer("push_audio", fail=True))
    tts = await _start(openai_server_factory())
    try:
        async for message in tts:
            if isinstance(message, TTSAudioMessage):
                break
        assert await asyncio.to_thread(timer.entered.wait, WAIT_S)
        await asyncio.wait_for(tts.shutdown(), WAIT_S)
        assert not timer.left.is_set(), "shutdown waited for the timer"
        assert [message async for message in tts] == []
    finally:
        timer.gate.set()
    with caplog.at_level(logging.WARNING):
        assert await asyncio.to_thread(timer.left.wait, WAIT_S)
        await asyncio.sleep(0)  # let a result handed back to the loop arrive
        gc.collect()
    ours = [r for r in caplog.records if r.threadName != SERVER_THREAD]
    assert [r.getMessage() for r in ours if r.levelno >= logging.WARNING] == []
