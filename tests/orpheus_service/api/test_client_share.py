"""ORPHEUS_MAX_SESSIONS_PER_CLIENT: one client address cannot take every channel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets

from orpheus_service.api.errors import CapacityError
from orpheus_service.api.sessions.limiter import Refusal, SessionLimiter
from tests.support.service_support import FakeEngine, ServerThread, pack, start_fake_service, unpack
from tests.support.socket_checks import active_sessions, read_until_closed
from unmute.tts.websocket_client import is_capacity_refusal

UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
CLOSE_TRY_AGAIN = 1013
ATTACKER = "127.0.0.2"
OTHER = "127.0.0.3"


def test_a_client_at_its_share_is_refused_while_channels_remain() -> None:
    limiter = SessionLimiter(4, per_client=1)
    assert limiter.try_acquire("a") is None
    assert limiter.try_acquire("a") is Refusal.CLIENT_FULL
    assert limiter.active == 1


def test_another_client_still_gets_a_channel() -> None:
    limiter = SessionLimiter(4, per_client=1)
    limiter.try_acquire("a")
    assert limiter.try_acquire("b") is None


def test_a_released_channel_returns_to_its_client_share() -> None:
    limiter = SessionLimiter(4, per_client=1)
    limiter.try_acquire("a")
    limiter.release("a")
    assert limiter.held_by("a") == 0
    assert limiter.try_acquire("a") is None


def test_a_full_service_refuses_as_full_before_any_share() -> None:
    limiter = SessionLimiter(1, per_client=1)
    limiter.try_acquire("a")
    assert limiter.try_acquire("b") is Refusal.FULL


def test_without_a_per_client_limit_one_client_may_take_every_channel() -> None:
    limiter = SessionLimiter(3)
    assert [limiter.try_acquire("a") for _ in range(4)] == [None, None, None, Refusal.FULL]


def test_a_client_of_unknown_address_is_bound_by_capacity_alone() -> None:
    limiter = SessionLimiter(2, per_client=1)
    assert [limiter.try_acquire(None) for _ in range(3)] == [None, None, Refusal.FULL]


def test_the_per_client_refusal_reads_as_capacity_to_the_unmute_client() -> None:
    message = CapacityError("this client already holds 1 (ORPHEUS_MAX_SESSIONS_PER_CLIENT)")
    assert is_capacity_refusal(message.message)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(
        FakeEngine(chunk_delay_s=0.01), max_sessions=4, max_sessions_per_client=1
    )
    yield srv
    srv.stop()


def connect(server: ServerThread, address: str) -> websockets.connect:
    """An unmute-protocol socket from `address` (a loopback address of this machine)."""
    return websockets.connect(server.ws + UNMUTE, local_addr=(address, 0))


async def test_a_second_socket_from_one_address_is_refused_with_try_again(
    server: ServerThread,
) -> None:
    async with connect(server, ATTACKER) as first:
        assert unpack(await first.recv()) == {"type": "Ready"}
        async with connect(server, ATTACKER) as second:
            frames = await read_until_closed(second, 5.0)
        assert second.close_code == CLOSE_TRY_AGAIN
        error = unpack(frames[-1])
        assert error["type"] == "Error"
        assert "ORPHEUS_MAX_SESSIONS_PER_CLIENT" in error["message"]


async def test_another_address_is_served_while_one_holds_its_share(server: ServerThread) -> None:
    async with connect(server, ATTACKER) as first, connect(server, OTHER) as second:
        assert unpack(await first.recv()) == {"type": "Ready"}
        assert unpack(await second.recv()) == {"type": "Ready"}


async def test_a_client_may_open_again_once_its_session_ends(server: ServerThread) -> None:
    async with connect(server, ATTACKER) as first:
        await first.recv()
        await first.send(pack({"type": "Eos"}))
        await read_until_closed(first, 5.0)
    for _ in range(100):
        if await active_sessions(server) == 0:
            break
        await asyncio.sleep(0.02)
    async with connect(server, ATTACKER) as again:
        assert unpack(await again.recv()) == {"type": "Ready"}


async def test_an_http_request_beyond_the_share_gets_429_in_the_openai_shape(
    server: ServerThread,
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
    async with (
        connect(server, ATTACKER) as held,
        httpx.AsyncClient(transport=transport, base_url=server.http, timeout=10) as client,
    ):
        await held.recv()
        reply = await client.post("/v1/audio/speech", json={"input": "Hello there."})
    assert reply.status_code == 429
    error = reply.json()["error"]
    assert error["code"] == "no_free_channels"
    assert "ORPHEUS_MAX_SESSIONS_PER_CLIENT" in error["message"]


async def test_refusals_are_counted_by_reason(server: ServerThread) -> None:
    async with connect(server, ATTACKER) as first:
        await first.recv()
        async with connect(server, ATTACKER) as second:
            await read_until_closed(second, 5.0)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        text = (await client.get("/metrics")).text
    assert 'orpheus_rejected_sessions_total{reason="client_full"} 1.0' in text
