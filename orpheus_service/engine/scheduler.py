"""The batching decode scheduler: SNAC work of every session in one batched forward.

Every synthesis segment gets a `ScheduledDecoder` (the engine's FrameDecoder)
from `DecodeScheduler.decoder_factory`. Its `decode(frames)` / `flush()` calls
become requests in one queue. A dispatcher task takes the pending requests,
waits up to `collect_s` for more (not at all once every open stream has a
request pending, or `max_batch` are in), and hands them to the backend's
`run_batch` in ONE worker thread: one batched forward for all of them. Results go
back to each caller; a caller cancelled while its request waits is dropped from
the queue.

Order: a stream's requests are served in the order they were made, one per batch
at most, so each session's audio comes out in order. Across streams the most
urgent go first (earliest deadline): a stream still waiting for its first audio
is due at once (oldest first); a stream already playing is due when the audio
decoded so far has played out in real time. That keeps time to first audio low
under load without starving streams that fall behind real time. Batches run one
after another in the single worker thread, so the event loop never runs torch
and forwards never compete for the cores (or the GPU).

`batching=False` turns collection off: each request runs alone, most urgent
first, in the same worker thread (the baseline of `bench/concurrency.py`).
Backends live in `orpheus_service.engine.snac_batch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame
from unmute.tts.protocol import SAMPLE_RATE

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeRequest(Generic[S]):
    """One stream's pending work: frames to push, then a flush if `flush`."""

    stream: S = field(repr=False)  # decoder state: tensors, never worth printing
    frames: Sequence[Frame]
    flush: bool


class BatchBackend(Protocol[S]):
    """Creates per-stream decoder state and decodes many streams' requests at once."""

    def new_stream(self) -> S:
        """State of one new decoder stream (one segment)."""
        ...

    def run_batch(self, requests: Sequence[DecodeRequest[S]]) -> list[Pcm | None]:
        """Serve `requests` (distinct streams) together; one result per request.

        Runs in the scheduler's worker thread.
        """
        ...


@dataclass(eq=False)
class _Pending(Generic[S]):
    owner: ScheduledDecoder[S]
    request: DecodeRequest[S]
    future: asyncio.Future[Pcm | None]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class SchedulerStats:
    """Counters of the scheduler."""

    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    busy_s: float = 0.0
    """Seconds the worker spent in run_batch."""

    @property
    def mean_batch(self) -> float:
        """Requests per batch on average."""
        return self.requests / self.batches if self.batches else 0.0


class DecodeScheduler(Generic[S]):
    """Collects decode requests of all sessions and serves them in batched forwards."""

    def __init__(
        self,
        backend: BatchBackend[S],
        *,
        batching: bool = True,
        collect_s: float = 0.003,
        max_batch: int = 32,
        on_batch: Callable[[int], None] | None = None,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.backend = backend
        self.batching = batching
        self.collect_s = collect_s
        self.max_batch = max_batch
        self.sample_rate = sample_rate
        self.stats = SchedulerStats()
        self._on_batch = on_batch
        self._queue: deque[_Pending[S]] = deque()
        self._open: weakref.WeakSet[ScheduledDecoder[S]] = weakref.WeakSet()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    # -- public -------------------------------------------------------------------

    def decoder_factory(self) -> ScheduledDecoder[S]:
        """A FrameDecoder for one new segment (pass the method as the engine's factory)."""
        decoder = ScheduledDecoder(self, self.backend.new_stream())
        self._open.add(decoder)
        return decoder

    @property
    def open_streams(self) -> int:
        """Decoders created and not yet flushed or dropped."""
        return len(self._open)

    @property
    def pending(self) -> int:
        """Requests waiting for a batch."""
        return sum(not item.future.done() for item in self._queue)

    async def aclose(self) -> None:
        """Stop the dispatcher; pending requests fail with RuntimeError. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(RuntimeError("decode scheduler closed"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- used by ScheduledDecoder ------------------------------------------------------

    async def submit(
        self, owner: ScheduledDecoder[S], frames: Sequence[Frame], flush: bool
    ) -> Pcm | None:
        """Queue one request and wait for its result."""
        if self._closed:
            raise RuntimeError("decode scheduler closed")
        loop = asyncio.get_running_loop()
        self._ensure_running(loop)
        request = DecodeRequest(owner.stream, list(frames), flush)
        item = _Pending(owner, request, loop.create_future())
        self._queue.append(item)
        assert self._wakeup is not None
        self._wakeup.set()
        # A caller cancelled while waiting cancels `item.future` too: the dispatcher
        # then skips the item (and a result computed meanwhile is dropped).
        return await item.future

    def release(self, owner: ScheduledDecoder[S]) -> None:
        """`owner` will make no more requests."""
        self._open.discard(owner)

    # -- dispatcher -----------------------------------------------------------------------

    def _ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None and not self._task.done():
            return
        self._wakeup = asyncio.Event()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snac-decode")
        self._task = loop.create_task(self._dispatch(), name="decode-scheduler")

    def _ready(self) -> bool:
        if len(self._queue) >= self.max_batch:
            return True
        waiting = {id(item.owner) for item in self._queue if not item.future.done()}
        return len(waiting) >= len(self._open)

    def _take_batch(self) -> list[_Pending[S]]:
        """The most urgent requests, one per stream (each stream's oldest), up to the limit."""
        limit = self.max_batch if self.batching else 1
        live = [item for item in self._queue if not item.future.done()]
        heads: dict[int, _Pending[S]] = {}
        for item in live:
            heads.setdefault(id(item.owner), item)  # a stream's later requests wait
        chosen = sorted(heads.values(), key=lambda item: item.owner.deadline(item.queued_at))
        batch = chosen[:limit]
        taken = {id(item) for item in batch}
        self._queue = deque(item for item in live if id(item) not in taken)
        return batch

    async def _collect(self) -> None:
        """Give other sessions `collect_s` to add their requests."""
        assert self._wakeup is not None
        deadline = time.perf_counter() + self.collect_s
        while not self._ready():
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), left)

    async def _dispatch(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.batching:
                await self._collect()
            batch = self._take_batch()
            if not batch:
                continue
            await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[S]]) -> None:
        requests = [item.request for item in batch]
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.backend.run_batch, requests)
            if len(results) != len(batch):
                raise RuntimeError(
                    f"run_batch returned {len(results)} results for {len(batch)} requests"
                )
        except asyncio.CancelledError:
            for item in batch:
                item.future.cancel()
            raise
        except Exception as exc:
            log.exception("batched decode of %d requests failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            self.stats.busy_s += time.perf_counter() - started
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        if self._on_batch is not None:
            try:
                self._on_batch(len(batch))
            except Exception:  # a metrics hook must never strand the batch's callers
                log.exception("on_batch callback failed")
        now = time.perf_counter()
        for item, pcm in zip(batch, results, strict=True):
            if pcm is not None and pcm.size:
                item.owner.produced(pcm.shape[0] / self.sample_rate, now)
            if not item.future.done():
                item.future.set_result(pcm)


class ScheduledDecoder(Generic[S]):
    """One segment's FrameDecoder whose work runs through a DecodeScheduler."""

    def __init__(self, scheduler: DecodeScheduler[S], stream: S) -> None:
        self.scheduler = scheduler
        self.stream = stream
        self.audio_started: float | None = None
        """When this stream's first audio came out of the decoder."""
        self.audio_s = 0.0
        """Seconds of audio decoded so far."""
        self._lock = asyncio.Lock()
        self._flushed = False

    def deadline(self, queued_at: float) -> float:
        """When this stream needs its next audio: at once before its first audio (the
        request's arrival), then when the audio decoded so far has played out."""
        if self.audio_started is None:
            return queued_at
        return self.audio_started + self.audio_s

    def produced(self, seconds: float, now: float) -> None:
        """The decoder returned `seconds` of audio at `now`."""
        if self.audio_started is None:
            self.audio_started = now
        self.audio_s += seconds

    async def decode(self, frames: Sequence[Frame]) -> Pcm | None:
        """Push frames in order; return the audio that became final, if any."""
        if not frames:
            return None
        async with self._lock:
            if self._flushed:
                raise RuntimeError("decoder already flushed")
            return await self.scheduler.submit(self, frames, False)

    async def flush(self) -> Pcm | None:
        """End of the segment: return the remaining audio."""
        async with self._lock:
            if self._flushed:
                return None
            self._flushed = True
            try:
                return await self.scheduler.submit(self, (), True)
            finally:
                self.scheduler.release(self)

    async def aclose(self) -> None:
        """Drop the stream unflushed (a cancelled segment); idempotent. Until then the
        scheduler counts it as open and waits `collect_s` for its next request."""
        self._flushed = True
        self.scheduler.release(self)
