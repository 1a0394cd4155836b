"""The thread bridge: one espeak synthesis runs in a worker thread (the library blocks)
and `SynthesisStream` hands its chunks and word events to the event loop as the library
produces them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class WordEvent:
    """Where espeak starts speaking a word of the text it was given."""

    char_index: int
    """Index (in code points) of the word's first character in the synthesized text."""
    char_length: int
    sample: int
    """Native-rate sample, counted from the start of this synthesis."""


@dataclass(frozen=True)
class SynthChunk:
    """One buffer from the library: native-rate int16 samples and the words starting in it."""

    start_sample: int
    samples: Int16Array
    words: tuple[WordEvent, ...]


@dataclass(frozen=True)
class SynthesisResult:
    """How a synthesis ended."""

    samples: int
    """Native-rate samples produced."""
    aborted: bool
    """True when a cancellation stopped it before the end of the text."""


Emit = Callable[[SynthChunk], None]
Work = Callable[[Emit, threading.Event], SynthesisResult]
"""One blocking synthesis: hands each chunk to `emit`, stops at the next buffer once the
event is set (`EspeakEngine.synthesize` with its text and voice bound)."""


def _retrieve_exception(task: asyncio.Task[SynthesisResult]) -> None:
    """Mark a worker's failure as seen when nobody awaits it (e.g. after cancellation)."""
    if not task.cancelled():
        task.exception()


class _Finished:
    pass


_FINISHED: Final = _Finished()


class SynthesisStream:
    """One synthesis running in a worker thread, streamed to the event loop.

    Use as `async with engine.stream(text, voice) as stream: async for chunk in stream`.
    Chunks arrive as the library produces them. Leaving the block early (break, error,
    cancellation) aborts the synthesis at its next buffer and waits for the worker.
    `result` is set once the worker is done.
    """

    def __init__(self, work: Work) -> None:
        self.result: SynthesisResult | None = None
        self._work = work
        self._cancel = threading.Event()
        self._queue: asyncio.Queue[SynthChunk | _Finished] = asyncio.Queue()
        self._task: asyncio.Task[SynthesisResult] | None = None
        self._finished = False

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        queue = self._queue
        cancel = self._cancel

        def post(item: SynthChunk | _Finished) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                cancel.set()

        def run() -> SynthesisResult:
            try:
                return self._work(post, cancel)
            finally:
                post(_FINISHED)

        self._task = asyncio.create_task(asyncio.to_thread(run), name="espeak-synthesis")
        self._task.add_done_callback(_retrieve_exception)
        return self

    def cancel(self) -> None:
        """Abort the synthesis at its next buffer."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        """Whether the worker is still synthesizing."""
        return self._task is not None and not self._task.done()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SynthChunk:
        if self._task is None:
            raise RuntimeError("iterate inside `async with engine.stream(...)`")
        if self._finished:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Finished):
            self._finished = True
            self.result = await self._task
            raise StopAsyncIteration
        return item

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None:
            return
        if not task.done():
            self._cancel.set()
            await asyncio.wait({task})  # the library stops at its next buffer
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self.result = task.result()
        elif exc is None:
            raise error
