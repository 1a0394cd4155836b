"""Helpers of the tests that talk to the service over its WebSockets: read a socket
until the service closes it (raw frames or decoded messages), count its sessions."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.service_support import ServerThread, unpack


async def read_until_closed(ws: ClientConnection, timeout_s: float) -> list[Any]:
    """Every frame `ws` receives until the service closes it; TimeoutError after
    `timeout_s` if it never does."""
    frames: list[Any] = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout_s):
            async for frame in ws:
                frames.append(frame)
    return frames


async def read_messages(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every msgpack message `ws` receives until the service closes it (any close code)."""
    messages: list[dict[str, Any]] = []
    with contextlib.suppress(ConnectionClosed):
        async for frame in ws:
            messages.append(unpack(frame))
    return messages


async def active_sessions(server: ServerThread) -> int:
    """The sessions the service's /health reports as running."""
    async with httpx.AsyncClient() as client:
        return int((await client.get(server.http + "/health")).json()["active_sessions"])
