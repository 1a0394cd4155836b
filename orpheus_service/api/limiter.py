"""The session limiter: at most `capacity` syntheses at a time, refusing at once when full."""

from __future__ import annotations


class SessionLimiter:
    """At most `capacity` sessions at a time; acquiring never waits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0

    def try_acquire(self) -> bool:
        """Take a channel if one is free."""
        if self.active >= self.capacity:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        """Give a channel back."""
        self.active = max(0, self.active - 1)
