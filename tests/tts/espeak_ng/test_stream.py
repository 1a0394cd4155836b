"""SynthesisStream, the bridge from espeak's worker thread to the event loop: chunks
arrive in order as the worker emits them, leaving early stops the worker, and the
worker's failure reaches the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from unmute.tts.espeak_ng.stream import (
    Emit,
    SynthChunk,
    SynthesisResult,
    SynthesisStream,
    WordEvent,
)


def chunk(index: int) -> SynthChunk:
    word = WordEvent(char_index=index, char_length=1, sample=index * 10)
    return SynthChunk(index * 10, np.zeros(10, dtype=np.int16), (word,))


async def test_chunks_arrive_in_order_and_the_result_is_set_at_the_end() -> None:
    def work(emit: Emit, cancel: threading.Event) -> SynthesisResult:
        for index in range(3):
            emit(chunk(index))
        return SynthesisResult(30, aborted=False)

    async with SynthesisStream(work) as stream:
        got = [c.start_sample async for c in stream]
    assert got == [0, 10, 20]
    assert stream.result == SynthesisResult(30, aborted=False)


async def test_leaving_early_cancels_the_worker_and_waits_for_it() -> None:
    saw_cancel = threading.Event()

    def work(emit: Emit, cancel: threading.Event) -> SynthesisResult:
        emit(chunk(0))
        emit(chunk(1))
        if cancel.wait(5):  # as the library, at its next buffer
            saw_cancel.set()
        return SynthesisResult(20, aborted=cancel.is_set())

    async with SynthesisStream(work) as stream:
        async for _ in stream:
            break
    assert saw_cancel.is_set()
    assert not stream.running
    assert stream.result == SynthesisResult(20, aborted=True)


async def test_a_worker_failure_is_raised_when_the_block_ends() -> None:
    def work(emit: Emit, cancel: threading.Event) -> SynthesisResult:
        raise OSError("library exploded")

    with pytest.raises(OSError, match="library exploded"):
        async with SynthesisStream(work) as stream:
            async for _ in stream:
                pass


async def test_iterating_outside_the_block_is_refused() -> None:
    stream = SynthesisStream(lambda emit, cancel: SynthesisResult(0, aborted=False))
    with pytest.raises(RuntimeError, match="async with"):
        await anext(stream)
