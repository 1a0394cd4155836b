"""`StreamingWordTimer`: the bookkeeping every estimator shares (pieces on one timeline,
the lookahead rule, order and bounds); an estimator only says where it thinks each
remaining word of the piece starts."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer.contract import MAX_LOOKAHEAD_S, TimedWord

_SPOKEN = re.compile(r"\w")


def word_weight(word: str) -> float:
    """A word's share of speaking time: its letters and digits plus one (a word of
    punctuation only still takes a little)."""
    return float(len(_SPOKEN.findall(word)) + 1)


class StreamingWordTimer:
    """Base of the estimators: subclasses implement `_start`, `_observe`, `_estimates`."""

    def __init__(self, *, lookahead_s: float = MAX_LOOKAHEAD_S) -> None:
        if not 0.0 <= lookahead_s <= MAX_LOOKAHEAD_S:
            raise ValueError(f"lookahead_s must be within 0..{MAX_LOOKAHEAD_S}, got {lookahead_s}")
        self.lookahead_s = lookahead_s
        self._offset = 0
        """Timeline sample where the current piece starts."""
        self._samples = 0
        """Samples of the current piece pushed."""
        self._words: list[str] = []
        self._emitted = 0
        self._floor_s = 0.0
        """No later word may start before this (piece time): the last start or stop given."""
        self._open = False

    # -- the WordTimer interface -------------------------------------------------------

    def begin_piece(self, words: Sequence[str]) -> None:
        """The words of the next piece; its audio follows via push_audio."""
        if self._open:
            raise RuntimeError("begin_piece() before end_piece() of the previous piece")
        self._open = True
        self._words = [str(word) for word in words]
        self._emitted = 0
        self._floor_s = 0.0
        self._start(self._words)

    def push_audio(self, pcm: FloatArray) -> list[TimedWord]:
        """24 kHz float32 mono audio of the current piece; the words now decided."""
        if not self._open:
            self.begin_piece([])
        samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        before_s = self._samples / SAMPLE_RATE
        if len(samples) == 0:
            return []
        self._samples += len(samples)
        self._observe(samples)
        return self._emit(before_s, final=False)

    def end_piece(self) -> list[TimedWord]:
        """The piece's audio is complete: every remaining word of the piece, in order."""
        if not self._open:
            return []
        words = self._emit(self._samples / SAMPLE_RATE, final=True)
        self._offset += self._samples
        self._samples = 0
        self._open = False
        return words

    # -- for subclasses ----------------------------------------------------------------

    @property
    def pushed_s(self) -> float:
        """Seconds of the current piece's audio pushed."""
        return self._samples / SAMPLE_RATE

    @property
    def emitted(self) -> int:
        """Words of the current piece already returned."""
        return self._emitted

    def _start(self, words: list[str]) -> None:
        """A piece with these words begins."""

    def _observe(self, samples: FloatArray) -> None:
        """More audio of the piece (already counted in `pushed_s`)."""

    def _estimates(self, final: bool) -> list[float | None]:
        """Estimated start (piece seconds) of each word from `emitted` on; None where
        the audio so far does not reach it. `final`: the audio is complete, give all."""
        raise NotImplementedError

    # -- emission ------------------------------------------------------------------------

    def _emit(self, before_s: float, *, final: bool) -> list[TimedWord]:
        """The words decided now; `before_s`: the piece's audio before this call."""
        remaining = len(self._words) - self._emitted
        if remaining <= 0:
            return []
        now_s = self.pushed_s
        estimates = self._estimates(final)[:remaining]
        if final:
            estimates = [now_s if e is None else e for e in estimates]
        estimates += [None] * (remaining - len(estimates))
        # A word not decided before this call starts after then minus lookahead.
        floor_s = min(max(self._floor_s, before_s - self.lookahead_s + 1 / SAMPLE_RATE), now_s)
        out: list[TimedWord] = []
        for index, estimate in enumerate(estimates):
            if estimate is None or (not final and estimate > now_s - self.lookahead_s):
                break
            start = min(max(estimate, floor_s), now_s)
            following = estimates[index + 1] if index + 1 < len(estimates) else None
            stop = now_s if following is None else min(max(following, start), now_s)
            word = self._words[self._emitted]
            seconds = self._offset / SAMPLE_RATE
            out.append(TimedWord(text=word, start_s=seconds + start, stop_s=seconds + stop))
            self._emitted += 1
            floor_s = self._floor_s = stop
        return out
