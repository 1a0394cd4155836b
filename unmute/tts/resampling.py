"""Audio at a backend's own sample rate in, unmute's 24 kHz blocks out.

`ResampledBlocks` resamples streamed float32 mono audio with soxr (stateful, so pieces
join without clicks) and hands it out in blocks of a fixed size, the last one short:
backends use it to send chunks of at most ~80 ms whatever their engine produces.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from unmute.tts.extras import require_extra
from unmute.tts.protocol import SAMPLE_RATE, FloatArray


class _Resampler(Protocol):
    def resample_chunk(self, x: FloatArray, last: bool = False) -> FloatArray: ...


class ResampledBlocks:
    """Resample a stream to `SAMPLE_RATE` and release it in blocks of `block_samples`.

    `extra` names the extra a missing soxr is installed with."""

    def __init__(self, input_rate: int, block_samples: int, *, extra: str) -> None:
        if input_rate <= 0 or block_samples <= 0:
            raise ValueError("input_rate and block_samples must be positive")
        self.input_rate = input_rate
        self.block_samples = block_samples
        self._resampler: _Resampler | None = None
        if input_rate != SAMPLE_RATE:
            soxr = require_extra("soxr", extra, feature="resampling audio to 24 kHz")
            self._resampler = soxr.ResampleStream(
                input_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
            )
        self._parts: list[FloatArray] = []
        self.length = 0
        """Output samples buffered, not yet taken."""
        self.finished = False

    @property
    def ratio(self) -> float:
        """Output samples per input sample."""
        return SAMPLE_RATE / self.input_rate

    def push(self, samples: FloatArray) -> None:
        """Add input samples (float32 mono at `input_rate`)."""
        if self.finished:
            raise RuntimeError("push() after finish()")
        samples = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._append(samples)

    def finish(self) -> None:
        """The input ended: flush the resampler's tail into the buffer."""
        if self.finished:
            return
        self.finished = True
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))

    def take(self, limit: int | None = None, *, partial: bool = False) -> list[FloatArray]:
        """Full blocks within the first `limit` buffered samples (None: no limit); when no
        limit is given, also a short last block of the rest once finished or if `partial`
        (to send audio as it comes)."""
        size = self.block_samples
        if limit is None:
            cut = self.length if self.finished or partial else self.length // size * size
        else:
            cut = min(limit, self.length) // size * size
        if cut <= 0:
            return []
        joined = np.concatenate(self._parts)
        blocks = [joined[i : i + size] for i in range(0, cut, size)]
        rest = joined[cut:]
        self._parts = [rest] if len(rest) else []
        self.length = len(rest)
        return blocks

    def _append(self, samples: FloatArray) -> None:
        if len(samples):
            self._parts.append(samples)
            self.length += len(samples)
