"""pytest fixtures running the local Orpheus service for the `orpheus` backend.

Load with `pytest_plugins = ["tests.support.llama_fixtures",
"tests.support.orpheus_fixtures"]` (the llama fixtures are needed too).

- `orpheus_service`: session-scoped; the service app (`create_app` with the real
  wiring: pooled llama client, batching SNAC scheduler) under uvicorn on 127.0.0.1, a
  free port, against the real llama-server with the tiny orpheus-like GGUF
  (`llama_orpheus_server`) and a small random-weight SNAC. Stopped at the end.
- `orpheus_service_env`: function-scoped; points the environment at that service
  (`ORPHEUS_FASTAPI_URL`, no credentials) for the test and restores it after. The
  conformance suite names this fixture for the backend `orpheus`.
- `orpheus_service_starter`: `start_orpheus_service(llama_url, snac_dir, **settings)`
  for another instance (e.g. against a llama-server that never stops generating);
  stop it with `.stop()`. (A fixture, so that test modules need not import this
  plugin module, which pytest must import first to rewrite its asserts.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orpheus_service.api.app import create_app
from orpheus_service.api.wiring import deps_factory
from orpheus_service.llama.server import LlamaServerProcess
from orpheus_service.settings import OrpheusSettings
from tests.support.service_support import ServerThread
from tests.support.snac_models import SMALL_SNAC_CONFIG, save_random_snac
from unmute.tts.settings import reset_settings

CLIENT_VARIABLES = (
    "ORPHEUS_FASTAPI_URL",
    "ORPHEUS_API_KEY",
    "ORPHEUS_MODAL_KEY",
    "ORPHEUS_MODAL_SECRET",
    "ORPHEUS_VOICE",
    "ORPHEUS_TEMPERATURE",
    "ORPHEUS_TOP_P",
    "ORPHEUS_REPETITION_PENALTY",
    "ORPHEUS_STARTUP_BUDGET_S",
)


@dataclass
class OrpheusService:
    """A running local Orpheus service."""

    server: ServerThread
    llama_url: str
    snac_dir: Path

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` of the service."""
        return self.server.http

    def stop(self) -> None:
        """Stop uvicorn (the app's lifespan closes the llama client and scheduler)."""
        self.server.stop()


def start_orpheus_service(llama_url: str, snac_dir: Path, **settings: Any) -> OrpheusService:
    """Start the service app on a free port; `settings` override OrpheusSettings."""
    values: dict[str, Any] = {
        "llama_endpoint": llama_url,
        "snac_model": str(snac_dir),
        "snac_device": "cpu",
        "api_key": None,
        "max_sessions": 4,
    }
    values.update(settings)
    config = OrpheusSettings(**values)
    app = create_app(config, deps_factory(noise=False))
    return OrpheusService(ServerThread(app).start(), llama_url, snac_dir)


@pytest.fixture(scope="session")
def orpheus_snac_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-weight SNAC (the SNAC 24 kHz architecture, fewer channels)."""
    return save_random_snac(SMALL_SNAC_CONFIG, tmp_path_factory.mktemp("snac"))


@pytest.fixture(scope="session")
def orpheus_service(
    llama_orpheus_server: LlamaServerProcess, orpheus_snac_dir: Path
) -> Iterator[OrpheusService]:
    """The local Orpheus service on the tiny orpheus-like llama-server."""
    service = start_orpheus_service(llama_orpheus_server.base_url, orpheus_snac_dir)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def orpheus_service_starter() -> Callable[..., OrpheusService]:
    """`start_orpheus_service`, to start more instances."""
    return start_orpheus_service


@pytest.fixture
def orpheus_service_env(
    orpheus_service: OrpheusService, monkeypatch: pytest.MonkeyPatch
) -> OrpheusService:
    """Point `ORPHEUS_FASTAPI_URL` at the local service (no credentials) for one test."""
    for name in CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", orpheus_service.url)
    reset_settings()
    return orpheus_service
