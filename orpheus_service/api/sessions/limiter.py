"""The session limiter: at most `capacity` syntheses at a time, and at most `per_client`
of them for one client, refusing at once when either is full."""

from __future__ import annotations

from collections import Counter
from enum import Enum


class Refusal(Enum):
    """Why a channel was not given."""

    FULL = "every channel is busy"
    CLIENT_FULL = "this client holds its share of the channels"


class SessionLimiter:
    """At most `capacity` sessions at a time, `per_client` per client; acquiring never waits.

    A client is whatever key the caller passes (the service passes the peer's address);
    `None` is a client of unknown address, bound by `capacity` alone.
    """

    def __init__(self, capacity: int, per_client: int | None = None) -> None:
        self.capacity = capacity
        self.per_client = per_client
        self.active = 0
        self._by_client: Counter[str] = Counter()

    def try_acquire(self, client: str | None = None) -> Refusal | None:
        """Take a channel for `client`; None when taken, else why not."""
        if self.active >= self.capacity:
            return Refusal.FULL
        if client is not None and self.per_client is not None:
            if self._by_client[client] >= self.per_client:
                return Refusal.CLIENT_FULL
            self._by_client[client] += 1
        self.active += 1
        return None

    def release(self, client: str | None = None) -> None:
        """Give back a channel `client` took."""
        self.active = max(0, self.active - 1)
        if client is not None and self._by_client[client] > 0:
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]

    def held_by(self, client: str) -> int:
        """Channels `client` holds (counted only while a per-client limit is set)."""
        return self._by_client[client]
