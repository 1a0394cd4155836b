"""`ProportionalWordTimer`: words spread by length from the onset of speech, at a
speaking rate corrected as audio arrives. The cheap rule, used without espeak-ng."""

from __future__ import annotations

from typing import Final

import numpy as np

from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer.contract import MAX_LOOKAHEAD_S
from unmute.tts.word_timer.streaming import StreamingWordTimer, word_weight

DEFAULT_SECONDS_PER_UNIT: Final = 1.0 / 14.0
"""Speaking rate before any piece was measured: 14 weight units (about letters) per second."""
FRAME: Final = SAMPLE_RATE // 100
SILENCE_DB: Final = -40.0
"""A 10 ms frame this far below the loudest so far counts as silence."""
RATE_MEMORY: Final = 0.5
"""Weight of the previous rate when a piece's measured rate is folded in."""


class ProportionalWordTimer(StreamingWordTimer):
    """Starts spread by word weight over the speech, after its leading silence."""

    def __init__(self, *, lookahead_s: float = MAX_LOOKAHEAD_S) -> None:
        super().__init__(lookahead_s=lookahead_s)
        self.seconds_per_unit = DEFAULT_SECONDS_PER_UNIT
        self._weights: list[float] = []
        self._energy: list[float] = []
        self._pending = np.zeros(0, dtype=np.float32)

    def _start(self, words: list[str]) -> None:
        self._weights = [word_weight(word) for word in words]
        self._energy = []
        self._pending = np.zeros(0, dtype=np.float32)

    def _observe(self, samples: FloatArray) -> None:
        joined = np.concatenate([self._pending, samples])
        count = len(joined) // FRAME
        frames = joined[: count * FRAME].reshape(count, FRAME)
        self._energy.extend((10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-10)).tolist())
        self._pending = joined[count * FRAME :]

    def _speech_span(self) -> tuple[float, float] | None:
        """First and last loud frame (seconds), or None before any speech."""
        if not self._energy:
            return None
        energy = np.asarray(self._energy)
        loud = np.flatnonzero(energy > max(float(energy.max()) + SILENCE_DB, -60.0))
        if len(loud) == 0:
            return None
        return float(loud[0]) * FRAME / SAMPLE_RATE, float(loud[-1] + 1) * FRAME / SAMPLE_RATE

    def _estimates(self, final: bool) -> list[float | None]:
        weights = self._weights
        span = self._speech_span()
        if span is None:
            return [None] * (len(weights) - self.emitted)
        onset, end = span
        total = sum(weights)
        if final:
            end = max(end, onset)
            rate = (end - onset) / total if total > 0 else 0.0
            if total > 0 and end > onset:
                self.seconds_per_unit = (
                    RATE_MEMORY * self.seconds_per_unit + (1 - RATE_MEMORY) * rate
                )
        else:
            # Speech still going past where the rate puts the last word's end: slower.
            rate = max(self.seconds_per_unit, (self.pushed_s - onset) / total if total else 0.0)
        starts = onset + rate * (np.cumsum([0.0, *weights[:-1]]) if weights else np.zeros(0))
        return [float(start) for start in starts[self.emitted :]]
