"""Streaming dynamic time warping of a growing query against a fixed reference.

Each query frame advances the reference by 0, 1 or 2 frames, so every path to query
row i has i + 1 steps and costs at row i compare without normalization: the open end
of the prefix is the cheapest reference frame of the last row. A row costs a few
vector operations over the reference; the back-pointers are kept for backtracking.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from unmute.tts.word_timer.features import Features

STALL_PENALTY: Final = 10.0
"""Added when the query advances and the reference stays (a pause or slower speech)."""

_INF: Final = np.float32(np.inf)


class StreamingDtw:
    """Aligns query frames, pushed as they come, to `reference` frames."""

    def __init__(self, reference: Features, *, stall_penalty: float | None = None) -> None:
        self.reference = reference
        self.stall_penalty = np.float32(STALL_PENALTY if stall_penalty is None else stall_penalty)
        self._cost: npt.NDArray[np.float32] | None = None
        self._moves: list[npt.NDArray[np.int8]] = []
        """Per query row, per reference frame: how far the reference advanced (0, 1, 2)."""

    @property
    def rows(self) -> int:
        """Query frames pushed."""
        return len(self._moves)

    def push(self, query: Features) -> None:
        """Add query frames (rows of the same features as the reference)."""
        width = len(self.reference)
        if width == 0 or len(query) == 0:
            return
        local = _distances(query, self.reference)
        cost = self._cost
        start = 0
        if cost is None:
            cost = np.full(width, _INF, dtype=np.float32)
            cost[0] = local[0, 0]
            self._moves.append(np.zeros(width, dtype=np.int8))
            start = 1
        one = np.full(width, _INF, dtype=np.float32)
        two = np.full(width, _INF, dtype=np.float32)
        for row in local[start:]:
            best = cost + self.stall_penalty
            one[1:] = cost[:-1]
            two[2:] = cost[:-2]
            step_one = one < best
            np.minimum(best, one, out=best)
            step_two = two < best
            np.minimum(best, two, out=best)
            move = step_one.view(np.int8) + step_two.view(np.int8) * np.int8(2)
            move[step_two] = 2
            cost = best + row
            self._moves.append(move)
        self._cost = cost

    def end(self, *, closed: bool = False) -> int:
        """The reference frame the best path over the query so far ends at (-1: none);
        `closed`: the last reference frame when it is reachable."""
        cost = self._cost
        if cost is None:
            return -1
        if closed and np.isfinite(cost[-1]):
            return len(cost) - 1
        return int(np.argmin(cost))

    def crossings(self, boundaries: list[int], *, closed: bool = False) -> list[int | None]:
        """For each reference frame in `boundaries` (increasing), the first query row at
        which the best path is at or past it; None where the path has not reached it."""
        found: list[int | None] = [None] * len(boundaries)
        column = self.end(closed=closed)
        if column < 0 or not boundaries:
            return found
        pending = [k for k, b in enumerate(boundaries) if b <= column]
        if not pending:
            return found
        # Walk back from the end; the crossing of b is the first row whose column >= b.
        target = len(pending) - 1
        row = self.rows - 1
        while row >= 0 and target >= 0:
            k = pending[target]
            previous = column - int(self._moves[row][column]) if row > 0 else -1
            while target >= 0 and previous < boundaries[pending[target]] <= column:
                found[pending[target]] = row
                target -= 1
            del k
            column = previous
            row -= 1
        return found


def _distances(query: Features, reference: Features) -> npt.NDArray[np.float32]:
    """Euclidean distance of every query frame to every reference frame."""
    squared = (
        np.sum(query**2, axis=1)[:, None]
        + np.sum(reference**2, axis=1)[None, :]
        - 2.0 * (query @ reference.T)
    )
    return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)
