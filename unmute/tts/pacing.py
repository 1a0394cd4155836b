"""Real-time pacing of a TTS stream: audio a little ahead of real time, words on time.

unmute's handler turns every word its TTS client releases into chat history, and
plays audio as soon as it gets it. Its client therefore holds back what a fast TTS
produces: an audio chunk starting at `t` seconds into the stream is released at
`t - ahead_s` (unmute: 4 frames of 80 ms, 0.32 s), a word at its `start_s`, both
counted from the moment the first audio arrived. After an interruption the history
holds the words the listener heard, and no more.

`Pacer` is the one implementation of that rule: the drop-in client
(`unmute.tts.pluggable`) and the Orchestrator's `pace_ahead_s` both use it. The
clock is any `get_time` callable in seconds (unmute passes the microphone's sample
count as time); by default the running loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from unmute.tts.protocol import SAMPLE_RATE, OutputMessage, TTSAudioMessage, TTSTextMessage

T = TypeVar("T")

FRAME_S: Final = 1920 / SAMPLE_RATE
"""One frame of unmute's TTS audio: 80 ms."""
UNMUTE_AHEAD_S: Final = 4 * FRAME_S
"""How far ahead of real time unmute's own client releases audio (0.32 s)."""
POLL_S: Final = 0.02
"""Longest sleep between looks at a clock other than the loop's (it may jump or stop)."""


def loop_time() -> float:
    """The running event loop's monotonic clock."""
    return asyncio.get_running_loop().time()


@dataclass(order=True)
class _Timed(Generic[T]):
    due_s: float
    seq: int
    item: T = field(compare=False)


class Pacer(Generic[T]):
    """A queue that releases audio `ahead_s` before it plays and words when they play.

    Producers call `put_audio` / `put_word` (or `put` with an explicit time) and
    `close()` at the end; the consumer iterates (`async for item in pacer`) or calls
    `due()` for what is due now. Times are seconds from `start()`, which the first
    `put_audio` calls: nothing is due before audio has started, except after
    `close()`, which starts the clock if it never ran.
    """

    def __init__(
        self, ahead_s: float = UNMUTE_AHEAD_S, get_time: Callable[[], float] | None = None
    ) -> None:
        if ahead_s < 0:
            raise ValueError(f"ahead_s must be >= 0, got {ahead_s}")
        self.ahead_s = ahead_s
        self._custom_clock = get_time is not None
        self.get_time: Callable[[], float] = get_time if get_time is not None else loop_time
        self.start_time: float | None = None
        self.audio_s = 0.0
        """Seconds of audio put so far (where the next chunk starts in the stream)."""
        self._last_due_s = float("-inf")
        self._heap: list[_Timed[T]] = []
        self._seq = itertools.count()
        self._closed = False
        self._cancelled = False
        self._changed = asyncio.Event()

    # -- producer side ------------------------------------------------------------

    def start(self) -> None:
        """Start the clock now, if it is not running yet."""
        if self.start_time is None:
            self.start_time = self.get_time()
            self._changed.set()

    def put(self, item: T, due_s: float) -> None:
        """Release `item` `due_s` seconds after the start (items of one time keep order).

        Dropped after `cancel()` (the consumer is gone); an error after `close()`.
        """
        if self._cancelled:
            return
        if self._closed:
            raise RuntimeError("put() after close()")
        heapq.heappush(self._heap, _Timed(due_s, next(self._seq), item))
        self._last_due_s = max(self._last_due_s, due_s)
        self._changed.set()

    def put_last(self, item: T) -> None:
        """Queue `item` after everything queued so far (an error that ends the stream)."""
        self.put(item, self._last_due_s if self._heap else float("-inf"))

    def put_audio(self, item: T, duration_s: float) -> None:
        """Queue an audio chunk of `duration_s`: due `ahead_s` before it starts playing."""
        self.start()
        self.put(item, self.audio_s - self.ahead_s)
        self.audio_s += duration_s

    def put_word(self, item: T, start_s: float) -> None:
        """Queue a word that starts `start_s` seconds into the audio: due then."""
        self.put(item, start_s)

    def close(self) -> None:
        """No more items: the iteration ends once the queued ones are released."""
        self._closed = True
        self.start()
        self._changed.set()

    def cancel(self) -> None:
        """Drop what is queued and close: the iteration ends now; later puts are dropped."""
        self._cancelled = True
        self._heap.clear()
        self.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` or `cancel()` was called."""
        return self._closed

    # -- consumer side ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._heap)

    def elapsed(self) -> float | None:
        """Seconds on the clock since the start (None before it)."""
        return None if self.start_time is None else self.get_time() - self.start_time

    def due(self) -> list[T]:
        """Pop every item due now, in order."""
        elapsed = self.elapsed()
        released: list[T] = []
        if elapsed is None:
            return released
        while self._heap and self._heap[0].due_s <= elapsed:
            released.append(heapq.heappop(self._heap).item)
        return released

    async def next(self) -> T | None:
        """Wait for the next item to be due and return it; None once closed and empty."""
        while True:
            elapsed = self.elapsed()
            if elapsed is not None and self._heap and self._heap[0].due_s <= elapsed:
                return heapq.heappop(self._heap).item
            if self._closed and not self._heap:
                return None
            wait: float | None = None
            if elapsed is not None and self._heap:
                wait = self._heap[0].due_s - elapsed
            if self._custom_clock and (wait is None or wait > POLL_S) and self._heap:
                wait = POLL_S  # the clock is not the loop's: look again soon
            self._changed.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._changed.wait()
            except TimeoutError:
                pass

    async def __aiter__(self) -> AsyncIterator[T]:
        while (item := await self.next()) is not None:
            yield item


async def paced(
    messages: AsyncIterable[OutputMessage], pacer: Pacer[OutputMessage]
) -> AsyncGenerator[OutputMessage, None]:
    """Yield `messages` on `pacer`'s schedule: audio ahead of real time, words at start_s.

    An Error message goes out after everything before it, and ends the stream. If
    `messages` raises, the error is raised once what came before it is released.
    `pacer.cancel()` ends the stream at once.
    """
    failure: list[Exception] = []

    async def read() -> None:
        source = aiter(messages)
        try:
            async for message in source:
                if isinstance(message, TTSAudioMessage):
                    pacer.put_audio(message, message.duration_s)
                elif isinstance(message, TTSTextMessage):
                    pacer.put_word(message, message.start_s)
                else:
                    pacer.put_last(message)
                    return
        except Exception as exc:
            failure.append(exc)
        finally:
            if not pacer.closed:
                pacer.close()
            if isinstance(source, AsyncGenerator):
                await source.aclose()

    reader = asyncio.create_task(read(), name="tts-pacer-reader")
    try:
        async for message in pacer:
            yield message
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    if failure:
        raise failure[0]
