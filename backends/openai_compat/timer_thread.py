"""The word timer's work in a worker thread, so that audio never waits for it.

The estimator reads each sentence with espeak-ng and runs MFCCs and DTW on every block
(~2 ms a sentence, ~1.5 ms per 80 ms of audio on a slow CPU). `ThreadedWordTimer` runs
those calls in one worker thread, one at a time and in the order given (a `WordTimer`
is not thread-safe), and hands the decided words back on the event loop, which only
queues work and collects results.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer import TimedWord, WordTimer

Wake = Callable[[], None]
"""Called on the event loop when a queued call has finished."""


class ThreadedWordTimer:
    """A `WordTimer` driven from the event loop, its calls run in one worker thread."""

    def __init__(self, timer: WordTimer) -> None:
        self.timer = timer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="word-timer")
        self._calls: deque[tuple[asyncio.Future[list[TimedWord]], int]] = deque()
        self.timed_samples = 0
        """Audio the timer has consumed, calls collected by `decided()` (its timeline)."""

    @property
    def timed_s(self) -> float:
        """`timed_samples` in seconds."""
        return self.timed_samples / SAMPLE_RATE

    @property
    def busy(self) -> bool:
        """Some queued call's result is not collected yet."""
        return bool(self._calls)

    def begin_piece(self, words: Sequence[str], wake: Wake) -> None:
        """Queue `begin_piece(words)`."""
        words = list(words)

        def begin() -> list[TimedWord]:
            self.timer.begin_piece(words)
            return []

        self._queue(begin, 0, wake)

    def push_audio(self, blocks: Sequence[FloatArray], wake: Wake) -> None:
        """Queue `push_audio` of each block, in order."""
        blocks = list(blocks)
        if not blocks:
            return

        def push() -> list[TimedWord]:
            return [word for block in blocks for word in self.timer.push_audio(block)]

        self._queue(push, sum(len(block) for block in blocks), wake)

    def end_piece(self, wake: Wake) -> None:
        """Queue `end_piece()`."""
        self._queue(self.timer.end_piece, 0, wake)

    def decided(self) -> list[TimedWord]:
        """The words of the calls finished so far, in order; a call's error is raised here."""
        out: list[TimedWord] = []
        while self._calls and self._calls[0][0].done():
            call, samples = self._calls.popleft()
            out += call.result()
            self.timed_samples += samples
        return out

    def cancel(self) -> None:
        """Drop the queued calls (one already running finishes, its result unread): the
        timer is left mid-piece, fit only to be closed."""
        for call, _ in self._calls:
            if call.done() and not call.cancelled():
                call.exception()  # read, so that asyncio does not log it as lost
            call.cancel()
        self._calls.clear()

    def close(self) -> None:
        """Cancel what is queued and let the worker thread end; returns at once."""
        self.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _queue(self, work: Callable[[], list[TimedWord]], samples: int, wake: Wake) -> None:
        call = asyncio.get_running_loop().run_in_executor(self._pool, work)
        call.add_done_callback(lambda _: wake())
        self._calls.append((call, samples))
