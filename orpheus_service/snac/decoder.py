"""Exact streaming SNAC decoder: 7-code frames in, 24 kHz float32 audio out.

Each frame is decoded once. The SNAC decoder is not causal (an output sample
depends on about 10 latent steps either side), so the model is compiled into a
streaming graph in which every layer keeps its own state across calls (the layers
and how they run fast: `snac_stream_ops`; the walk over the model and the delay
bookkeeping: `snac_stream_graph`). The quantizer's code -> latent path is a lookup
in per-codebook tables (code embedding followed by `out_proj`), repeated by the vq
strides. It costs less CPU per second of audio than the common 4-frame sliding
window (BENCHMARKS.md, `python -m bench.snac_decode`).

Stream positions of each layer are tracked against true time: samples before the
start and after the end of the stream are zeroed where the full decode would see
zero padding, so the stitched output equals `model.decode` of the whole sequence
(to float rounding), first and last frames included. The graph is built by
walking the model's modules; a model with attention (`attn_window_size` set) is
refused.

Latency (SNAC 24 kHz): the total delay is 4757 samples (9.3 latent steps), so the
first audio (1387 samples) comes with the third frame, every later frame
returns 2048 samples, and a frame's audio is complete once the frame 3 places
after it has been pushed. `flush()` returns the tail; the stream's total length
is exactly frames * 2048.

API::

    decoder = SnacStreamDecoder(model)            # one per model; shares weights
    stream = decoder.new_stream()                 # one per utterance
    pcm = stream.push(frame)                      # np.float32 array or None
    pcm = stream.push_many(frames)                # several frames, one forward call
    tail = stream.flush()                         # end of stream: the rest, or None

    # batching scheduler: the pending work of many streams in one forward call
    states = [decoder.new_state() for _ in range(n)]
    outs = decoder.step_batch(states, [frame_or_None, ...])  # None = flush

    decoder.push(frame) / decoder.flush() / decoder.reset()  # a built-in stream

`Frame` is a tuple of 7 codes (0..4095) in Orpheus slot order: slot 0 -> level0[j],
1 -> level1[2j], 2 -> level2[4j], 3 -> level2[4j+1], 4 -> level1[2j+1],
5 -> level2[4j+2], 6 -> level2[4j+3].
A returned chunk is never empty (None instead). `step_batch` stacks the states of
all streams along the batch dimension; streams pushing a frame and streams
flushing need different amounts of work, so a batch mixing both runs as two
forward calls. The same code runs on CUDA (the model's device) and on the CPU.
`noise=False` skips the noise blocks (deterministic output, for comparisons);
production keeps the noise on, as the model was trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from snac import SNAC  # pyright: ignore[reportMissingTypeStubs]
from torch import Tensor, nn

from orpheus_service.snac.stream_graph import (
    ATTENTION_REFUSED,
    StreamGraphBuilder,
    UnsupportedSnacModel,
    code_tables,
)
from orpheus_service.snac.stream_ops import ForwardContext, StreamTiming
from orpheus_service.vocabulary.audio import Pcm
from orpheus_service.vocabulary.tokens import Frame

__all__ = [
    "CODES_PER_FRAME",
    "LATENT_STEPS_PER_FRAME",
    "Pcm",
    "SnacStream",
    "SnacStreamDecoder",
    "SnacStreamState",
    "UnsupportedSnacModel",
]

CODES_PER_FRAME = 7
LATENT_STEPS_PER_FRAME = 4
VQ_STRIDES = (4, 2, 1)
# Orpheus slot -> (codebook level, index within the frame's codes of that level).
_SLOT_LEVELS = ((0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (2, 2), (2, 3))


@dataclass
class SnacStreamState:
    """One stream's decoding state (owned by a SnacStreamDecoder)."""

    tensors: list[Tensor]
    """Per-layer state, each (1, length, channels)."""
    latent_steps: int = 0
    """Latent steps pushed so far (4 per frame)."""
    total_steps: int | None = None
    """Set at flush: the stream's length in latent steps."""
    emitted: int = 0
    """Samples returned so far."""

    @property
    def finished(self) -> bool:
        """True once flushed."""
        return self.total_steps is not None


class SnacStreamDecoder:
    """Exact frame-by-frame SNAC decoding with per-layer streaming state.

    Build one per model (it copies the decoder's weights into the streaming graph),
    then open a stream per utterance with `new_stream()` or drive many streams at
    once with `new_state()` + `step_batch()`. Also usable directly as a single
    stream (`push`, `push_many`, `flush`, `reset`).
    """

    def __init__(self, model: SNAC, *, noise: bool = True) -> None:
        if cast(int | None, model.attn_window_size) is not None:
            raise UnsupportedSnacModel(ATTENTION_REFUSED)
        vq_strides = tuple(cast(list[int], model.vq_strides))  # pyright: ignore[reportUnknownMemberType]
        if vq_strides != VQ_STRIDES:
            raise UnsupportedSnacModel(
                f"Orpheus frames need vq_strides {list(VQ_STRIDES)}, got {list(vq_strides)}"
            )
        decoder = cast(nn.Module, model.decoder)
        first = next(iter(decoder.parameters()))
        self.device = first.device
        self.dtype = first.dtype
        self.noise = noise
        self.codebook_size = int(model.codebook_size)
        with torch.inference_mode():
            self._tables = code_tables(model.quantizer)
            builder = StreamGraphBuilder(steps_hint=LATENT_STEPS_PER_FRAME)
            self._graph, self._out = builder.build(
                cast(nn.Module, decoder.model), StreamTiming(rate=1, const=0, offset=0)
            )
        self._state_shapes = builder.state_shapes
        self.samples_per_frame = LATENT_STEPS_PER_FRAME * self._out.rate
        """Output samples per frame (2048 for SNAC 24 kHz)."""
        self.delay = self._out.offset
        """Output delay in samples: audio up to `pushed * samples_per_frame - delay` is out."""
        self._flush_steps = max(0, math.ceil((self._out.offset + self._out.const) / self._out.rate))
        self._own: SnacStream | None = None

    # -- streams

    def new_state(self) -> SnacStreamState:
        """A fresh stream state, for `step_batch`."""
        with torch.inference_mode():
            tensors = [
                torch.zeros((1, n, c), dtype=self.dtype, device=self.device)
                for n, c in self._state_shapes
            ]
        return SnacStreamState(tensors)

    def new_stream(self) -> SnacStream:
        """A fresh single stream with `push`/`push_many`/`flush` (shares this decoder)."""
        return SnacStream(self)

    # -- batched entry point

    def step_batch(
        self, states: Sequence[SnacStreamState], frames: Sequence[Frame | None]
    ) -> list[Pcm | None]:
        """Decode one frame (or, for None, the end of stream) for each stream.

        Returns, per stream, the audio that became final, or None if none did.
        Streams pushing a frame run in one forward call, flushing streams in another.
        """
        if len(states) != len(frames):
            raise ValueError("step_batch needs one frame (or None) per state")
        work = [
            (s, [] if f is None else [f], f is None) for s, f in zip(states, frames, strict=True)
        ]
        return self._run(work)

    def step_many(
        self,
        states: Sequence[SnacStreamState],
        frames: Sequence[Sequence[Frame]],
        *,
        flush: bool = False,
    ) -> list[Pcm | None]:
        """Like `step_batch` with several frames per stream (streams with equal frame counts
        share a forward call); `flush=True` also ends every stream."""
        if len(states) != len(frames):
            raise ValueError("step_many needs one frame list per state")
        return self._run([(s, list(f), flush) for s, f in zip(states, frames, strict=True)])

    # -- the built-in single stream

    def push(self, frame: Frame) -> Pcm | None:
        """Push one frame to the built-in stream."""
        return self._stream().push(frame)

    def push_many(self, frames: Sequence[Frame]) -> Pcm | None:
        """Push several frames to the built-in stream (one forward call)."""
        return self._stream().push_many(frames)

    def flush(self) -> Pcm | None:
        """End the built-in stream; return its tail. The next push starts a new stream."""
        out = self._stream().flush()
        self._own = None
        return out

    def reset(self) -> None:
        """Drop the built-in stream's state."""
        self._own = None

    def _stream(self) -> SnacStream:
        if self._own is None:
            self._own = SnacStream(self)
        return self._own

    # -- internals

    def _run(self, work: list[tuple[SnacStreamState, list[Frame], bool]]) -> list[Pcm | None]:
        if len({id(state) for state, _, _ in work}) != len(work):
            raise ValueError("a stream state appears twice in one batch")
        for state, fr, _ in work:
            if state.finished:
                raise RuntimeError("this stream was already flushed")
            for f in fr:
                self._check_frame(f)
        for state, fr, flush in work:
            if flush:
                state.total_steps = state.latent_steps + LATENT_STEPS_PER_FRAME * len(fr)
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, (state, fr, flush) in enumerate(work):
            steps = LATENT_STEPS_PER_FRAME * len(fr) + (self._flush_steps if flush else 0)
            if steps == 0 or (flush and state.total_steps == 0):
                continue
            groups.setdefault((len(fr), flush), []).append(i)
        results: list[Pcm | None] = [None] * len(work)
        with torch.inference_mode():
            for (n_frames, flush), members in groups.items():
                outs = self._forward(
                    [work[i][0] for i in members],
                    [work[i][1] for i in members],
                    n_frames,
                    self._flush_steps if flush else 0,
                )
                for i, out in zip(members, outs, strict=True):
                    results[i] = out
        return results

    def _check_frame(self, frame: Frame) -> None:
        if len(frame) != CODES_PER_FRAME:
            raise ValueError(f"a frame has {CODES_PER_FRAME} codes, got {len(frame)}")
        for code in frame:
            if not 0 <= code < self.codebook_size:
                raise ValueError(f"code {code} outside 0..{self.codebook_size - 1} in {frame}")

    def _latents(self, frames: list[list[Frame]], n_frames: int, extra: int) -> Tensor:
        batch = len(frames)
        steps = LATENT_STEPS_PER_FRAME * n_frames + extra
        dim = self._tables.shape[2]
        if n_frames == 0:
            return torch.zeros((batch, steps, dim), dtype=self.dtype, device=self.device)
        # index[b, level, t]: the code of `level` at latent step t (levels repeated).
        index = torch.tensor(
            [
                [[f[slot] for f in fr for slot in _SLOT_ORDER[level]] for level in range(3)]
                for fr in frames
            ],
            dtype=torch.long,
            device=self.device,
        )
        z = self._tables[0][index[:, 0]]
        z = z + self._tables[1][index[:, 1]]
        z = z + self._tables[2][index[:, 2]]  # (B, T, D): time-major
        if extra:
            z = F.pad(z, (0, 0, 0, extra))
        return z

    def _forward(
        self, states: list[SnacStreamState], frames: list[list[Frame]], n_frames: int, extra: int
    ) -> list[Pcm | None]:
        batch = len(states)
        steps = LATENT_STEPS_PER_FRAME * n_frames + extra
        positions = [s.latent_steps for s in states]
        totals = [s.total_steps for s in states]
        masking = any(
            p * self._out.rate < self._out.offset or t is not None
            for p, t in zip(positions, totals, strict=True)
        )
        if batch == 1:
            tensors = list(states[0].tensors)
        else:
            tensors = [
                torch.cat([s.tensors[i] for s in states]) for i in range(len(self._state_shapes))
            ]
        ctx = ForwardContext(tensors, positions, totals, steps, self.noise, masking)
        x = self._latents(frames, n_frames, extra)
        y = self._graph.forward(x, ctx)  # (B, steps * rate, 1)
        audio = y[:, :, 0].to(device="cpu", dtype=torch.float32).numpy()
        out = self._out
        results: list[Pcm | None] = []
        for b, state in enumerate(states):
            if batch == 1:
                state.tensors = ctx.states
            else:
                state.tensors = [t[b : b + 1] for t in ctx.states]
            start = state.latent_steps * out.rate
            state.latent_steps += LATENT_STEPS_PER_FRAME * n_frames
            lo = max(0, out.offset + state.emitted - start)
            hi = audio.shape[1]
            if state.total_steps is not None:
                hi = min(hi, out.offset + out.rate * state.total_steps + out.const - start)
            if hi > lo:
                results.append(np.ascontiguousarray(audio[b, lo:hi]))
                state.emitted += hi - lo
            else:
                results.append(None)
        return results


# Per level, the Orpheus slots of a frame in latent-step order, repeated by the vq stride.
_SLOT_ORDER: tuple[tuple[int, ...], ...] = tuple(
    tuple(
        slot
        for pos in range(LATENT_STEPS_PER_FRAME // stride)
        for slot in [s for s, (lv, p) in enumerate(_SLOT_LEVELS) if lv == level and p == pos]
        for _ in range(stride)
    )
    for level, stride in enumerate(VQ_STRIDES)
)


class SnacStream:
    """One utterance's stream on a shared SnacStreamDecoder: push frames, then flush."""

    def __init__(self, decoder: SnacStreamDecoder) -> None:
        self.decoder = decoder
        self.state = decoder.new_state()

    def push(self, frame: Frame) -> Pcm | None:
        """Decode one frame; return the audio that became final, or None."""
        return self.decoder.step_batch([self.state], [frame])[0]

    def push_many(self, frames: Sequence[Frame]) -> Pcm | None:
        """Decode several frames in one forward call."""
        if not frames:
            return None
        return self.decoder.step_many([self.state], [frames])[0]

    def flush(self) -> Pcm | None:
        """End of stream: return the remaining audio, or None."""
        return self.decoder.step_batch([self.state], [None])[0]
