"""pytest fixtures for the Kyutai TTS stand-in (`tests/support/kyutai_server.py`).

Registered in `tests/conftest.py` (`pytest_plugins`):

- `kyutai_server`: a stand-in with default options (right key `public_token`, sends
  as fast as possible), stopped after the test.
- `kyutai_server_factory`: `kyutai_server_factory(**options)` starts another one
  with `KyutaiTTSServer`'s options (`speed=1.0`, `max_sessions=0`, `api_key=...`,
  `ready_delay_s=...`); every one started is stopped after the test.
- `kyutai_server_env`: `kyutai_server` with `KYUTAI_TTS_URL` (unmute's own variable
  for its TTS server) pointing at it for the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.kyutai_server import KyutaiTTSServer
from unmute.tts.settings import reset_settings


@pytest.fixture
def kyutai_server_factory() -> Iterator[Callable[..., KyutaiTTSServer]]:
    """Start stand-ins with the given options; all are stopped after the test."""
    started: list[KyutaiTTSServer] = []

    def start(**options: Any) -> KyutaiTTSServer:
        server = KyutaiTTSServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def kyutai_server(kyutai_server_factory: Callable[..., KyutaiTTSServer]) -> KyutaiTTSServer:
    """A running stand-in with default options."""
    return kyutai_server_factory()


@pytest.fixture
def kyutai_server_env(
    kyutai_server: KyutaiTTSServer, monkeypatch: pytest.MonkeyPatch
) -> KyutaiTTSServer:
    """`kyutai_server`, with `KYUTAI_TTS_URL` set to its URL for the test."""
    monkeypatch.setenv("KYUTAI_TTS_URL", kyutai_server.url)
    reset_settings()
    return kyutai_server
