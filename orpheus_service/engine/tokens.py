"""Orpheus token ids -> 7-code SNAC frames.

Rules:

- An audio token is an id in `[AUDIO_TOKEN_BASE, AUDIO_TOKEN_END)`. Audio token k,
  counted over audio tokens only, sits in slot `k % 7` and carries
  `code = id - AUDIO_TOKEN_BASE - slot * 4096`. Codes 0..4095 are legal (0 too).
- A code outside 0..4095 (4096, negative: a token written for another slot)
  spoils the frame it is in. The slot counter still advances on every audio
  token, so the whole frame is dropped at its end and the next frame starts in
  sync: later slots never shift. Each such frame counts in `dropped_frames`.
- `start_of_speech` restarts: a partial frame is discarded (`partial_frames`)
  and the slot counter goes back to 0. `end_of_speech` ends the stream; tokens
  after it are counted in `ignored_tokens` and otherwise ignored.
- Any other non-audio token (text, Llama control tokens, other Orpheus markers)
  is counted in `non_audio_tokens` and skipped without touching the slot counter.
  A stream with no audio token at all shows as `audio_tokens == 0`.
- `finish()` discards a partial frame left by a stream cut mid-frame and counts it
  in `partial_frames`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orpheus_service.vocabulary.tokens import (
    AUDIO_TOKEN_BASE,
    AUDIO_TOKEN_END,
    CODEBOOK_SIZE,
    END_OF_SPEECH,
    SLOTS_PER_FRAME,
    START_OF_SPEECH,
    Frame,
)


@dataclass
class TokenStats:
    """Counters of one parsed token stream."""

    tokens: int = 0
    """Every id fed, of any kind."""
    audio_tokens: int = 0
    """Ids in the audio token range."""
    non_audio_tokens: int = 0
    """Ids outside the audio range before end_of_speech (markers included)."""
    ignored_tokens: int = 0
    """Ids fed after end_of_speech."""
    frames: int = 0
    """Complete valid frames returned."""
    dropped_frames: int = 0
    """Complete frames dropped because a code was out of range."""
    partial_frames: int = 0
    """Incomplete frames discarded at a restart or at finish()."""
    ended: bool = False
    """end_of_speech was seen."""

    def add(self, other: TokenStats) -> None:
        """Add `other`'s counts to these (`ended` is left alone)."""
        self.tokens += other.tokens
        self.audio_tokens += other.audio_tokens
        self.non_audio_tokens += other.non_audio_tokens
        self.ignored_tokens += other.ignored_tokens
        self.frames += other.frames
        self.dropped_frames += other.dropped_frames
        self.partial_frames += other.partial_frames


class OrpheusTokenParser:
    """Turns generated token ids, fed in any chunking, into complete frames."""

    def __init__(self) -> None:
        self.stats = TokenStats()
        self._codes: list[int] = []
        self._slot = 0
        self._bad = False
        self._finished = False

    @property
    def ended(self) -> bool:
        """True once end_of_speech was seen."""
        return self.stats.ended

    def feed_one(self, token_id: int) -> Frame | None:
        """Feed one id; return the frame it completes, if it completes a valid one."""
        if self._finished:
            raise RuntimeError("feed after finish()")
        stats = self.stats
        stats.tokens += 1
        if stats.ended:
            stats.ignored_tokens += 1
            return None
        if not AUDIO_TOKEN_BASE <= token_id < AUDIO_TOKEN_END:
            stats.non_audio_tokens += 1
            if token_id == START_OF_SPEECH:
                self._discard_partial()
            elif token_id == END_OF_SPEECH:
                self._discard_partial()
                stats.ended = True
            return None
        stats.audio_tokens += 1
        code = token_id - AUDIO_TOKEN_BASE - self._slot * CODEBOOK_SIZE
        if 0 <= code < CODEBOOK_SIZE:
            self._codes.append(code)
        else:
            self._bad = True
        self._slot += 1
        if self._slot < SLOTS_PER_FRAME:
            return None
        bad, c = self._bad, self._codes
        self._reset_frame()
        if bad:
            stats.dropped_frames += 1
            return None
        stats.frames += 1
        return (c[0], c[1], c[2], c[3], c[4], c[5], c[6])

    def feed(self, token_ids: Iterable[int]) -> list[Frame]:
        """Feed a chunk of ids; return the valid frames they complete, in order."""
        frames: list[Frame] = []
        for token_id in token_ids:
            frame = self.feed_one(token_id)
            if frame is not None:
                frames.append(frame)
        return frames

    def finish(self) -> TokenStats:
        """End of the stream: discard (and count) a partial frame; return the counters."""
        if not self._finished:
            self._discard_partial()
            self._finished = True
        return self.stats

    def _discard_partial(self) -> None:
        if self._slot:
            self.stats.partial_frames += 1
        self._reset_frame()

    def _reset_frame(self) -> None:
        self._codes = []
        self._slot = 0
        self._bad = False
