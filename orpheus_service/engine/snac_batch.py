"""The decode scheduler's backend over SnacStreamDecoder's batched entry point."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from orpheus_service.engine.scheduler import DecodeRequest
from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame

S = TypeVar("S")


class BatchStepDecoder(Protocol[S]):
    """The batched entry point of `SnacStreamDecoder` (new_state + step_many)."""

    @property
    def delay(self) -> int:
        """Output delay in samples."""
        ...

    @property
    def samples_per_frame(self) -> int:
        """Output samples per frame."""
        ...

    def new_state(self) -> S: ...

    def step_many(
        self, states: Sequence[S], frames: Sequence[Sequence[Frame]], *, flush: bool = False
    ) -> list[Pcm | None]: ...


@dataclass(eq=False)
class SnacStreamSlot(Generic[S]):
    """One stream for SnacBatchBackend: the decoder state and frames held back."""

    state: S = field(repr=False)
    pushed: int = 0
    held: list[Frame] = field(default_factory=lambda: list[Frame](), repr=False)


class SnacBatchBackend(Generic[S]):
    """A BatchBackend over `SnacStreamDecoder.step_many`: pushes in one call, flushes in one.

    The decoder runs streams with equal frame counts in one forward pass. Frames that
    cannot produce audio yet (the decoder's output delay is not covered, e.g. the
    first two frames of SNAC 24 kHz) are held back and pushed with the next
    request, so the first audio costs one forward call instead of three.
    """

    def __init__(self, decoder: BatchStepDecoder[S]) -> None:
        self.decoder = decoder

    def new_stream(self) -> SnacStreamSlot[S]:
        """A fresh stream."""
        return SnacStreamSlot(self.decoder.new_state())

    def _holds(self, slot: SnacStreamSlot[S], frames: int) -> bool:
        return (slot.pushed + frames) * self.decoder.samples_per_frame <= self.decoder.delay

    def run_batch(self, requests: Sequence[DecodeRequest[SnacStreamSlot[S]]]) -> list[Pcm | None]:
        """Decode every request's frames (and flushes) together."""
        results: list[Pcm | None] = [None] * len(requests)
        work: dict[bool, list[tuple[int, list[Frame]]]] = {False: [], True: []}
        for i, request in enumerate(requests):
            slot = request.stream
            frames = [*slot.held, *request.frames]
            if not request.flush and self._holds(slot, len(frames)):
                slot.held = frames
                continue
            slot.held = []
            slot.pushed += len(frames)
            work[request.flush].append((i, frames))
        for flush, items in work.items():
            if not items:
                continue
            outs = self.decoder.step_many(
                [requests[i].stream.state for i, _ in items],
                [frames for _, frames in items],
                flush=flush,
            )
            for (i, _), pcm in zip(items, outs, strict=True):
                results[i] = pcm
        return results
