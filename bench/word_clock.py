"""The Orpheus service's former word timing (until the shared estimator replaced it): word
lengths at a speaking rate corrected at each segment's end. Kept as `bench.word_timing`'s
baseline."""

from __future__ import annotations

import re

_TAG = re.compile(r"^<[a-z]+>$")

DEFAULT_SECONDS_PER_UNIT = 1.0 / 15.0
"""Speaking rate before any segment was measured: 15 weight units (about chars) per second."""


def word_weight(word: str) -> float:
    """A word's share of speaking time: its length plus a space; an emotion tag counts 8."""
    if _TAG.match(word):
        return 8.0
    return float(len(word) + 1)


class WordClock:
    """Estimated word timings inside one segment (times relative to the segment)."""

    def __init__(self, text: str, seconds_per_unit: float) -> None:
        self.words = text.split()
        self.weights = [word_weight(word) for word in self.words]
        self.total_weight = sum(self.weights)
        self.rate = seconds_per_unit
        self.next = 0
        self.cursor_s = 0.0

    def advance(self, produced_s: float) -> list[tuple[str, float, float]]:
        """Words (all but the last) whose estimated end is inside `produced_s`."""
        out: list[tuple[str, float, float]] = []
        while self.next < len(self.words) - 1:
            stop = self.cursor_s + self.weights[self.next] * self.rate
            if stop > produced_s:
                break
            out.append((self.words[self.next], self.cursor_s, stop))
            self.cursor_s = stop
            self.next += 1
        return out

    def finish(self, duration_s: float) -> list[tuple[str, float, float]]:
        """The remaining words, sharing the time from the last one to `duration_s`."""
        rest = self.weights[self.next :]
        span = max(duration_s - self.cursor_s, 0.0)
        scale = span / sum(rest) if rest else 0.0
        out: list[tuple[str, float, float]] = []
        for index in range(self.next, len(self.words)):
            stop = min(self.cursor_s + self.weights[index] * scale, duration_s)
            if index == len(self.words) - 1:
                stop = max(duration_s, self.cursor_s)
            out.append((self.words[index], self.cursor_s, stop))
            self.cursor_s = stop
        self.next = len(self.words)
        return out
