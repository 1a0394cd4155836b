"""ThreadedFrameDecoder: a synchronous decoder run off the event loop's thread."""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from orpheus_service.engine.frame_decoder import ThreadedFrameDecoder, threaded_decoder_factory
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.vocabulary.tokens import Frame
from tests.support.engine_fakes import SAMPLES, FakeSource, audio_of, collect


class SyncDecoder:
    """A synchronous decoder recording the threads it runs on."""

    threads: ClassVar[set[int]] = set()

    def push(self, frame: Frame) -> npt.NDArray[np.float32] | None:
        SyncDecoder.threads.add(threading.get_ident())
        return np.zeros(SAMPLES, dtype=np.float32)

    def flush(self) -> npt.NDArray[np.float32] | None:
        SyncDecoder.threads.add(threading.get_ident())
        return None


async def test_threaded_decoder_runs_off_the_event_loop_thread() -> None:
    SyncDecoder.threads = set()
    engine = OrpheusEngine(FakeSource(), threaded_decoder_factory(SyncDecoder))
    events = await collect(engine.synthesize("Hello there."))
    assert audio_of(events).shape[0] == 2 * SAMPLES
    assert SyncDecoder.threads
    assert threading.get_ident() not in SyncDecoder.threads


async def test_threaded_decoder_joins_the_audio_of_a_batch() -> None:
    decoder = ThreadedFrameDecoder(SyncDecoder())
    zero: Frame = (0, 0, 0, 0, 0, 0, 0)
    pcm = await decoder.decode([zero, zero, zero])
    assert pcm is not None
    assert pcm.shape == (3 * SAMPLES,)
