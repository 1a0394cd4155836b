"""pytest fixtures for the OpenAI-compatible stand-in (`tests/support/openai_server.py`).

Registered in `tests/conftest.py` (`pytest_plugins`):

- `openai_server_factory`: `openai_server_factory(**options)` starts a stand-in with
  `OpenAISpeechServer`'s options; every one started is stopped after the test.
- `openai_env`: a function `openai_env(server, **settings)` that clears every
  `OPENAI_*` variable the backend reads, then points `OPENAI_TTS_BASE_URL` at `server`
  and sets `OPENAI_TTS_<NAME>` for each setting, for the test.
- `openai_server_env`: a 22,050 Hz raw-PCM stand-in (so audio is resampled) with the
  environment pointing at it. The conformance suite names it for the backend `openai`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.settings import reset_settings

OpenAIEnv = Callable[..., None]


@pytest.fixture
def openai_server_factory() -> Iterator[Callable[..., OpenAISpeechServer]]:
    """Start stand-ins with the given options; all are stopped after the test."""
    started: list[OpenAISpeechServer] = []

    def start(**options: Any) -> OpenAISpeechServer:
        server = OpenAISpeechServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> OpenAIEnv:
    """Point the backend's settings at a server (an `OpenAISpeechServer` or a URL)."""
    from backends.openai_compat.settings import OpenAITTSSettings, env_var

    def point(server: OpenAISpeechServer | str, **settings: object) -> None:
        for name in OpenAITTSSettings.model_fields:
            monkeypatch.delenv(env_var(name), raising=False)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        url = server if isinstance(server, str) else server.url
        monkeypatch.setenv("OPENAI_TTS_BASE_URL", url)
        for name, value in settings.items():
            monkeypatch.setenv(env_var(name), str(value))
        reset_settings()

    return point


@pytest.fixture
def openai_server_env(
    openai_server_factory: Callable[..., OpenAISpeechServer], openai_env: OpenAIEnv
) -> OpenAISpeechServer:
    """A 22,050 Hz raw-PCM stand-in, with the environment pointing at it."""
    server = openai_server_factory(rate=22050)
    openai_env(server)
    return server
