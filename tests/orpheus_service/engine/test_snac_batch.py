"""SnacBatchBackend: the decode scheduler's batches run through SnacStreamDecoder's
batched entry point, with the same audio as each stream decoded alone; frames that
cannot yield audio yet are held back instead of costing a forward call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from orpheus_service.engine.scheduler import DecodeRequest, DecodeScheduler
from orpheus_service.engine.snac_batch import SnacBatchBackend
from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame


def frame(value: int) -> Frame:
    return (value, 0, 0, 0, 0, 0, 0)


@pytest.mark.slow
async def test_batched_snac_decoding_equals_each_stream_decoded_alone(tmp_path: Path) -> None:
    from orpheus_service.snac.decoder import SnacStreamDecoder
    from tests.support.snac_models import SMALL_SNAC_CONFIG, random_snac

    decoder = SnacStreamDecoder(random_snac(SMALL_SNAC_CONFIG, tmp_path), noise=False)
    rng = np.random.default_rng(0)
    streams: list[list[Frame]] = [
        [cast(Frame, tuple(int(c) for c in rng.integers(0, 4096, 7))) for _ in range(n)]
        for n in (5, 7, 6)
    ]
    alone: list[np.ndarray] = []
    for frames in streams:
        single = decoder.new_stream()
        parts = [single.push(f) for f in frames] + [single.flush()]
        alone.append(np.concatenate([p for p in parts if p is not None]))

    scheduler = DecodeScheduler(SnacBatchBackend(decoder), collect_s=0.02)

    async def run(frames: list[Frame]) -> np.ndarray:
        d = scheduler.decoder_factory()
        parts = [await d.decode(frames[i : i + 2]) for i in range(0, len(frames), 2)]
        parts.append(await d.flush())
        return np.concatenate([p for p in parts if p is not None])

    batched = await asyncio.gather(*(run(f) for f in streams))
    await scheduler.aclose()
    assert scheduler.stats.largest_batch > 1
    for a, b in zip(alone, batched, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)


class CountingStepDecoder:
    """A BatchStepDecoder stand-in: 2 samples per frame, 3 samples of delay."""

    delay = 3
    samples_per_frame = 2

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def new_state(self) -> list[int]:
        return []

    def step_many(
        self, states: Sequence[list[int]], frames: Sequence[Sequence[Frame]], *, flush: bool = False
    ) -> list[Pcm | None]:
        self.calls.append([len(f) for f in frames])
        out: list[Pcm | None] = []
        for state, fr in zip(states, frames, strict=True):
            state.extend(f[0] for f in fr)
            out.append(np.asarray([f[0] for f in fr], dtype=np.float32))
        return out


async def test_frames_that_cannot_yield_audio_yet_are_held_without_a_forward_call() -> None:
    step = CountingStepDecoder()
    scheduler = DecodeScheduler(SnacBatchBackend(step))
    decoder = scheduler.decoder_factory()
    assert await decoder.decode([frame(1)]) is None  # 1 frame = 2 samples <= delay 3
    first = await decoder.decode([frame(2)])
    await scheduler.aclose()
    assert step.calls == [[2]]  # both frames in one forward call
    assert first is not None and first.tolist() == [1, 2]


async def test_held_frames_are_decoded_at_flush() -> None:
    step = CountingStepDecoder()
    scheduler = DecodeScheduler(SnacBatchBackend(step))
    decoder = scheduler.decoder_factory()
    await decoder.decode([frame(7)])
    tail = await decoder.flush()
    await scheduler.aclose()
    assert tail is not None and tail.tolist() == [7]


def test_pushes_and_flushes_of_one_batch_run_as_two_calls() -> None:
    step = CountingStepDecoder()
    backend = SnacBatchBackend(step)
    a, b = backend.new_stream(), backend.new_stream()
    out = backend.run_batch(
        [
            DecodeRequest(a, [frame(1), frame(2)], flush=False),
            DecodeRequest(b, [frame(3), frame(4)], flush=True),
        ]
    )
    assert step.calls == [[2], [2]]
    assert [o.tolist() if o is not None else None for o in out] == [[1, 2], [3, 4]]
    assert (a.state, b.state) == ([1, 2], [3, 4])


def test_a_request_held_back_returns_no_audio_and_runs_no_call() -> None:
    step = CountingStepDecoder()
    backend = SnacBatchBackend(step)
    slot = backend.new_stream()
    assert backend.run_batch([DecodeRequest(slot, [frame(5)], flush=False)]) == [None]
    assert step.calls == [] and slot.held == [frame(5)] and slot.pushed == 0
