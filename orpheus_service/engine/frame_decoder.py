"""FrameDecoder, the engine's decoding interface, and ThreadedFrameDecoder, its thread adapter.

`ThreadedFrameDecoder` runs a synchronous streaming decoder (such as
`SnacStreamDecoder`) in a worker thread, so the event loop never runs torch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame


class FrameDecoder(Protocol):
    """One segment's decoder stream; frames in, PCM (float32, 24 kHz) out."""

    async def decode(self, frames: Sequence[Frame]) -> Pcm | None:
        """Push frames in order; return the audio that became final, if any."""
        ...

    async def flush(self) -> Pcm | None:
        """End of the segment: return the remaining audio."""
        ...


DecoderFactory = Callable[[], FrameDecoder]
"""Makes a fresh FrameDecoder for each segment."""


class SyncStreamDecoder(Protocol):
    """A synchronous streaming decoder such as `SnacStreamDecoder`."""

    def push(self, frame: Frame) -> npt.NDArray[np.float32] | None: ...

    def flush(self) -> npt.NDArray[np.float32] | None: ...


class ThreadedFrameDecoder:
    """Runs a synchronous streaming decoder in a worker thread, one call at a time.

    A batch goes to the decoder's `push_many(frames)` when it has one (one
    forward call, as `SnacStream` offers), else to `push` frame by frame.
    """

    def __init__(self, decoder: SyncStreamDecoder) -> None:
        self._decoder = decoder
        push_many: Callable[[Sequence[Frame]], Pcm | None] | None = getattr(
            decoder, "push_many", None
        )
        self._push_many = push_many

    def _push_all(self, frames: Sequence[Frame]) -> Pcm | None:
        if self._push_many is not None:
            pcm = self._push_many(frames)
            return None if pcm is None or not pcm.size else _as_pcm(pcm)
        chunks: list[Pcm] = []
        for frame in frames:
            pcm = self._decoder.push(frame)
            if pcm is not None and pcm.size:
                chunks.append(_as_pcm(pcm))
        if not chunks:
            return None
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    async def decode(self, frames: Sequence[Frame]) -> Pcm | None:
        """Push `frames` in a worker thread."""
        if not frames:
            return None
        return await asyncio.to_thread(self._push_all, list(frames))

    async def flush(self) -> Pcm | None:
        """Flush in a worker thread."""
        pcm = await asyncio.to_thread(self._decoder.flush)
        return None if pcm is None or not pcm.size else _as_pcm(pcm)


def threaded_decoder_factory(make: Callable[[], SyncStreamDecoder]) -> DecoderFactory:
    """A DecoderFactory wrapping each new synchronous decoder in ThreadedFrameDecoder."""

    def factory() -> FrameDecoder:
        return ThreadedFrameDecoder(make())

    return factory


def _as_pcm(pcm: npt.NDArray[np.float32]) -> Pcm:
    return np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
