"""pytest fixtures for tests against a real llama-server (load with `pytest_plugins`).

Servers are session-scoped, started on first use (127.0.0.1, free port, `-t 1`,
4 slots) and stopped at the end of the session. Without a llama-server binary the
fixtures FAIL with the install command: these tests are not optional.

- `llama_server_binary`: Path of llama-server.
- `llama_servers`: `LlamaServers`, to start a server for any `TinyModel`/options.
- `llama_orpheus_server`: orpheus-like model, custom tokens USER_DEFINED,
  `ORPHEUS_FRAMES` frames then end_of_speech.
- `llama_orpheus_control_server`: the same with custom tokens typed CONTROL.
- `llama_orpheus_drops_server`: never ends; every third frame is spoiled.
- `llama_random_server`: random weights (mostly non-audio tokens).
- `llama_client`: a `LlamaClient` on `llama_orpheus_server` (function-scoped).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orpheus_service.llama.client import LlamaClient
from orpheus_service.llama.server import (
    LlamaServerNotFoundError,
    LlamaServerProcess,
    find_llama_server_binary,
)
from tests.support.llama import (
    ORPHEUS_CONTROL,
    ORPHEUS_DROPS,
    ORPHEUS_USER_DEFINED,
    RANDOM,
    LlamaServers,
    model_cache_dir,
)


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """The llama-server binary; fails the test when there is none."""
    try:
        return find_llama_server_binary()
    except LlamaServerNotFoundError as exc:
        message = f"these tests need a real llama-server: {exc}"
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def llama_servers(llama_server_binary: Path) -> Iterator[LlamaServers]:
    """Starts tiny-model llama-servers on demand; stops them at the end of the session."""
    servers = LlamaServers(llama_server_binary, model_cache_dir())
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture(scope="session")
def llama_orpheus_server(llama_servers: LlamaServers) -> LlamaServerProcess:
    """Orpheus-like tiny model, custom tokens typed USER_DEFINED."""
    return llama_servers.get(ORPHEUS_USER_DEFINED)


@pytest.fixture(scope="session")
def llama_orpheus_control_server(llama_servers: LlamaServers) -> LlamaServerProcess:
    """Orpheus-like tiny model, custom tokens typed CONTROL."""
    return llama_servers.get(ORPHEUS_CONTROL)


@pytest.fixture(scope="session")
def llama_orpheus_drops_server(llama_servers: LlamaServers) -> LlamaServerProcess:
    """Orpheus-like tiny model that never ends and spoils every third frame."""
    return llama_servers.get(ORPHEUS_DROPS)


@pytest.fixture(scope="session")
def llama_random_server(llama_servers: LlamaServers) -> LlamaServerProcess:
    """Tiny model with random weights."""
    return llama_servers.get(RANDOM)


@pytest.fixture
async def llama_client(llama_orpheus_server: LlamaServerProcess) -> AsyncIterator[LlamaClient]:
    """A client of `llama_orpheus_server`, closed after the test."""
    async with contextlib.aclosing(LlamaClient(llama_orpheus_server.base_url)) as client:
        yield client
