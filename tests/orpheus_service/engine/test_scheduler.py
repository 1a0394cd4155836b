"""The batching decode scheduler: batches across sessions, order within each."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from orpheus_service.engine.scheduler import DecodeRequest, DecodeScheduler, ScheduledDecoder
from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame


def frame(value: int) -> Frame:
    return (value, 0, 0, 0, 0, 0, 0)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (bounded, so a bug fails, not hangs)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the queue has no event to wait on
            await asyncio.sleep(0)


async def worker_entered(event: threading.Event) -> None:
    """Wait until the decode worker has started its batch."""
    assert await asyncio.to_thread(event.wait, 5), "the worker never started"


class RecordingBackend:
    """Returns, per request, the first codes of its frames (and -1 for a flush)."""

    def __init__(self, delay_s: float = 0.0, samples_per_code: int = 1) -> None:
        self.delay_s = delay_s
        self.samples_per_code = samples_per_code
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        """Set once the worker has started a batch."""
        self.fail = False
        self._ids = itertools.count()

    def new_stream(self) -> int:
        return next(self._ids)

    def run_batch(self, requests: Sequence[DecodeRequest[int]]) -> list[Pcm | None]:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        self.batches.append([r.stream for r in requests])
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("decoder exploded")
        out: list[Pcm | None] = []
        for r in requests:
            values = [f[0] for f in r.frames] + ([-1] if r.flush else [])
            pcm = np.repeat(np.asarray(values, dtype=np.float32), self.samples_per_code)
            out.append(pcm if values else None)
        return out


async def test_concurrent_streams_share_one_batched_call() -> None:
    backend = RecordingBackend(delay_s=0.01)
    scheduler = DecodeScheduler(backend, collect_s=0.05)
    decoders = [scheduler.decoder_factory() for _ in range(4)]
    await asyncio.gather(*(d.decode([frame(i)]) for i, d in enumerate(decoders)))
    await scheduler.aclose()
    assert backend.batches == [[0, 1, 2, 3]]


async def test_each_stream_gets_its_own_audio_in_order() -> None:
    backend = RecordingBackend(delay_s=0.002)
    scheduler = DecodeScheduler(backend, collect_s=0.002)

    async def stream(decoder: ScheduledDecoder[int], base: int) -> list[float]:
        got: list[float] = []
        for k in range(10):
            await asyncio.sleep(0.001 * (base % 3))
            pcm = await decoder.decode([frame(base + k)])
            assert pcm is not None
            got.extend(pcm.tolist())
        tail = await decoder.flush()
        assert tail is not None
        got.extend(tail.tolist())
        return got

    results = await asyncio.gather(
        *(stream(scheduler.decoder_factory(), 100 * i) for i in range(5))
    )
    await scheduler.aclose()
    for i, got in enumerate(results):
        assert got == [100 * i + k for k in range(10)] + [-1]
    assert max(len(b) for b in backend.batches) > 1


async def test_batching_off_serves_one_request_per_call() -> None:
    backend = RecordingBackend(delay_s=0.005)
    scheduler = DecodeScheduler(backend, batching=False)
    decoders = [scheduler.decoder_factory() for _ in range(4)]
    await asyncio.gather(*(d.decode([frame(i)]) for i, d in enumerate(decoders)))
    await scheduler.aclose()
    assert sorted(backend.batches) == [[0], [1], [2], [3]]


async def test_lone_stream_is_not_held_for_the_collect_window() -> None:
    scheduler = DecodeScheduler(RecordingBackend(), collect_s=1.0)
    decoder = scheduler.decoder_factory()
    started = time.perf_counter()
    await decoder.decode([frame(1)])
    elapsed = time.perf_counter() - started
    await scheduler.aclose()
    assert elapsed < 0.2


async def test_decoding_runs_in_a_worker_thread_not_the_event_loop() -> None:
    backend = RecordingBackend()
    scheduler = DecodeScheduler(backend)
    await scheduler.decoder_factory().decode([frame(1)])
    await scheduler.aclose()
    assert backend.threads and threading.main_thread().name not in backend.threads


async def test_request_cancelled_while_queued_never_runs() -> None:
    backend = RecordingBackend()
    backend.gate = threading.Event()
    scheduler = DecodeScheduler(backend, batching=False)
    first, second = scheduler.decoder_factory(), scheduler.decoder_factory()
    running = asyncio.ensure_future(first.decode([frame(1)]))
    await worker_entered(backend.entered)  # `first` is now blocked in the worker
    queued = asyncio.ensure_future(second.decode([frame(2)]))
    await until(lambda: scheduler.pending == 1)
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    backend.gate.set()
    await running
    # one more decode goes through the same queue, after the cancelled one would have
    assert await scheduler.decoder_factory().decode([frame(3)]) is not None
    await scheduler.aclose()
    assert backend.batches == [[0], [2]]
    assert scheduler.pending == 0


async def test_backend_failure_reaches_every_request_of_the_batch() -> None:
    backend = RecordingBackend()
    backend.fail = True
    scheduler = DecodeScheduler(backend, collect_s=0.05)
    decoders = [scheduler.decoder_factory() for _ in range(2)]
    results = await asyncio.gather(
        *(d.decode([frame(i)]) for i, d in enumerate(decoders)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    backend.fail = False
    assert await scheduler.decoder_factory().decode([frame(5)]) is not None  # still serving
    await scheduler.aclose()


async def test_failing_batch_callback_still_delivers_the_batch() -> None:
    def explode(size: int) -> None:
        raise RuntimeError("metrics are down")

    scheduler = DecodeScheduler(RecordingBackend(), collect_s=0.05, on_batch=explode)
    result = await asyncio.wait_for(scheduler.decoder_factory().decode([frame(7)]), 2)
    await scheduler.aclose()
    assert result is not None and result.tolist() == [7.0]


async def test_flushed_stream_stops_counting_as_open() -> None:
    scheduler = DecodeScheduler(RecordingBackend())
    decoder = scheduler.decoder_factory()
    assert scheduler.open_streams == 1
    await decoder.flush()
    assert scheduler.open_streams == 0
    await scheduler.aclose()


class Unprintable:
    """A stream state that must never be printed (real ones hold large tensors)."""

    def __repr__(self) -> str:
        raise AssertionError("decoder state was printed")


class UnprintableBackend:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def new_stream(self) -> Unprintable:
        return Unprintable()

    def run_batch(self, requests: Sequence[DecodeRequest[Unprintable]]) -> list[Pcm | None]:
        self.entered.set()
        self.release.wait(5)
        return [np.zeros(1, dtype=np.float32) for _ in requests]


async def test_caller_cancelled_during_its_decode_leaves_the_scheduler_serving() -> None:
    backend = UnprintableBackend()
    scheduler = DecodeScheduler(backend)
    decoder = scheduler.decoder_factory()
    running = asyncio.ensure_future(decoder.decode([frame(1)]))
    await worker_entered(backend.entered)  # now inside run_batch, in the worker
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    backend.release.set()
    pcm = await scheduler.decoder_factory().decode([frame(2)])
    await scheduler.aclose()
    assert pcm is not None


async def test_stream_waiting_for_first_audio_goes_before_one_already_playing() -> None:
    backend = RecordingBackend()
    backend.gate = threading.Event()
    scheduler = DecodeScheduler(backend, batching=False)
    blocker, playing, fresh = (scheduler.decoder_factory() for _ in range(3))
    playing.produced(10.0, time.perf_counter())  # 10 s of audio ahead of the listener
    running = asyncio.ensure_future(blocker.decode([frame(0)]))
    await worker_entered(backend.entered)  # the worker is busy with `blocker`
    later = asyncio.ensure_future(playing.decode([frame(1)]))
    await until(lambda: scheduler.pending == 1)
    first = asyncio.ensure_future(fresh.decode([frame(2)]))
    await until(lambda: scheduler.pending == 2)
    backend.gate.set()
    await asyncio.gather(running, later, first)
    await scheduler.aclose()
    assert backend.batches == [[0], [2], [1]]


async def test_stream_behind_real_time_goes_before_a_new_one() -> None:
    backend = RecordingBackend()
    backend.gate = threading.Event()
    scheduler = DecodeScheduler(backend, batching=False)
    blocker, behind, fresh = (scheduler.decoder_factory() for _ in range(3))
    behind.produced(0.5, time.perf_counter() - 5.0)  # its listener ran dry 4.5 s ago
    running = asyncio.ensure_future(blocker.decode([frame(0)]))
    await worker_entered(backend.entered)
    new = asyncio.ensure_future(fresh.decode([frame(2)]))
    await until(lambda: scheduler.pending == 1)
    late = asyncio.ensure_future(behind.decode([frame(1)]))
    await until(lambda: scheduler.pending == 2)
    backend.gate.set()
    await asyncio.gather(running, new, late)
    await scheduler.aclose()
    assert backend.batches == [[0], [1], [2]]


async def test_a_cancelled_synthesis_stops_counting_as_open() -> None:
    from orpheus_service.engine.events import AudioChunk
    from orpheus_service.engine.pipeline import OrpheusEngine
    from tests.support.engine_fakes import FakeSource

    # A frame's worth of samples per frame: audio goes out once its words are timed.
    scheduler = DecodeScheduler(RecordingBackend(samples_per_code=2048))
    engine = OrpheusEngine(FakeSource(forever=True, token_delay_s=0.001), scheduler.decoder_factory)
    synthesis = engine.synthesize("Keep talking forever.")
    while not isinstance(await anext(synthesis), AudioChunk):
        pass
    assert scheduler.open_streams == 1
    await synthesis.aclose()
    assert scheduler.open_streams == 0  # else every batch waits collect_s for it
    await scheduler.aclose()
