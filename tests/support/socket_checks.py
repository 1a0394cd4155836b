"""Helpers of the tests that watch the service end sessions: read a socket until the
service closes it, count the sessions it reports."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.service_support import ServerThread


async def read_until_closed(ws: ClientConnection, timeout_s: float) -> list[Any]:
    """Every frame `ws` receives until the service closes it; TimeoutError after
    `timeout_s` if it never does."""
    frames: list[Any] = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout_s):
            async for frame in ws:
                frames.append(frame)
    return frames


async def active_sessions(server: ServerThread) -> int:
    """The sessions the service's /health reports as running."""
    async with httpx.AsyncClient() as client:
        return int((await client.get(server.http + "/health")).json()["active_sessions"])
