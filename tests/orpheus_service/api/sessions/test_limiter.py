"""SessionLimiter: a bounded number of channels, a bounded share per client, never a wait."""

from __future__ import annotations

from orpheus_service.api.sessions.limiter import Refusal, SessionLimiter


def test_a_full_limiter_refuses_at_once() -> None:
    limiter = SessionLimiter(capacity=2)
    assert limiter.try_acquire() is None
    assert limiter.try_acquire() is None
    assert limiter.try_acquire() is Refusal.FULL


def test_a_released_channel_can_be_taken_again() -> None:
    limiter = SessionLimiter(capacity=1)
    assert limiter.try_acquire() is None
    limiter.release()
    assert limiter.try_acquire() is None


def test_one_client_cannot_take_more_than_its_share() -> None:
    limiter = SessionLimiter(capacity=10, per_client=2)
    assert [limiter.try_acquire("a") for _ in range(3)] == [None, None, Refusal.CLIENT_FULL]
    assert limiter.try_acquire("b") is None
    assert limiter.held_by("a") == 2


def test_a_client_of_unknown_address_is_bound_by_the_capacity_alone() -> None:
    limiter = SessionLimiter(capacity=3, per_client=1)
    assert [limiter.try_acquire(None) for _ in range(4)] == [None, None, None, Refusal.FULL]


def test_releasing_more_than_was_taken_never_frees_extra_channels() -> None:
    limiter = SessionLimiter(capacity=1, per_client=1)
    limiter.release("a")
    assert limiter.active == 0
    assert limiter.try_acquire("a") is None
    assert limiter.try_acquire("b") is Refusal.FULL
