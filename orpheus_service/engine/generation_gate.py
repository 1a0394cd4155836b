"""`GenerationGate`: llama-server's time goes first to the syntheses closest to running dry.

llama-server shares its compute among every request it runs. A synthesis far ahead of
its listener (a long text read as fast as its client takes it) gains nothing by
generating more now, while one whose listener is about to run dry needs every token.
So before a synthesis starts its next segment, it waits at the gate while it is more
than `ahead_s` of audio ahead of its listener and another synthesis is generating with
less than `urgent_s` ahead (or no audio yet). With nobody urgent nobody waits, so a
lone long text still runs at full speed; a segment already running is never stopped.

"Ahead" is the audio a synthesis has generated (handed out or about to be) minus the
time since its first audio went out: what its listener will hold if playing started at
the first chunk. Counting what is generated, not only what is sent, lets the gate hold a
second segment back while the first is still being decoded.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Protocol


class GatedSynthesis(Protocol):
    """What the gate reads of a synthesis."""

    def ahead_s(self, now: float) -> float:
        """Audio generated minus the time since the first audio went out."""
        ...

    @property
    def generating(self) -> bool:
        """Whether a llama request of this synthesis is running."""
        ...


class GenerationGate:
    """Holds back syntheses far ahead of their listeners while others are close to dry."""

    def __init__(self, ahead_s: float, urgent_s: float | None = None, poll_s: float = 0.02):
        if ahead_s <= 0:
            raise ValueError("ahead_s must be > 0")
        self.ahead_s = ahead_s
        self.urgent_s = ahead_s / 2 if urgent_s is None else urgent_s
        self.poll_s = poll_s
        self._members: weakref.WeakSet[GatedSynthesis] = weakref.WeakSet()

    def join(self, synthesis: GatedSynthesis) -> None:
        """`synthesis` runs under this gate (until `leave`, or until it is collected)."""
        self._members.add(synthesis)

    def leave(self, synthesis: GatedSynthesis) -> None:
        """`synthesis` has ended."""
        self._members.discard(synthesis)

    def must_wait(self, synthesis: GatedSynthesis, now: float | None = None) -> bool:
        """Whether `synthesis` should hold its next segment back now."""
        now = time.perf_counter() if now is None else now
        if synthesis.ahead_s(now) <= self.ahead_s:
            return False
        return any(
            other is not synthesis and other.generating and other.ahead_s(now) < self.urgent_s
            for other in list(self._members)
        )

    async def wait_turn(self, synthesis: GatedSynthesis) -> float:
        """Wait until `synthesis` may start its next segment; the seconds it waited."""
        if not self.must_wait(synthesis):
            return 0.0
        began = time.perf_counter()
        # Polled: the condition changes with time itself (leads shrink as audio plays).
        while self.must_wait(synthesis):  # noqa: ASYNC110
            await asyncio.sleep(self.poll_s)
        return time.perf_counter() - began
