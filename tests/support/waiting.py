"""Waiting for a state instead of sleeping: `wait_until(condition)`, and `FakeClock`, a
clock that moves only when the test says so and tells when it was read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_S = 0.002
"""How often `wait_until` looks at its condition."""


async def wait_until(condition: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    """Return as soon as `condition()` holds; TimeoutError after `timeout_s` (a failure,
    never a pass)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state has no event of its own
            await asyncio.sleep(POLL_S)


class FakeClock:
    """A clock that moves only when the test says so; it counts how often it was read."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    async def read_again(self, times: int = 3, *, timeout_s: float = 5.0) -> None:
        """Return once the clock was read `times` more times: a consumer polling it has
        seen its current time and released what was due then."""
        target = self.reads + times
        await wait_until(lambda: self.reads >= target, timeout_s=timeout_s)
