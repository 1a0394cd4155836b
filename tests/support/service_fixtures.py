"""pytest fixtures for the service on its real stack (load with `pytest_plugins`).

- `small_snac_dir`: a random-weight SNAC of the small config, saved in the hub layout.
- `snac_24khz_dir`: the same for the real 24 kHz architecture.
- `real_service`: a factory `(llama_url, **settings) -> ServerThread` running the app
  with its real dependencies (LlamaClient, SNAC from the folder, batching scheduler);
  every server it started is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service_support import RealService, ServerThread, service_settings
from tests.support.snac_models import SMALL_SNAC_CONFIG, SNAC_24KHZ_CONFIG, save_random_snac


@pytest.fixture(scope="session")
def small_snac_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small-config SNAC (random weights) in the hub layout."""
    return save_random_snac(SMALL_SNAC_CONFIG, tmp_path_factory.mktemp("snac-small"))


@pytest.fixture(scope="session")
def snac_24khz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SNAC 24 kHz architecture (random weights) in the hub layout."""
    return save_random_snac(SNAC_24KHZ_CONFIG, tmp_path_factory.mktemp("snac-24khz"))


@pytest.fixture
def real_service(small_snac_dir: Path) -> Iterator[RealService]:
    """Start the app on its real dependencies against `llama_url`."""
    from orpheus_service.api.app import create_app
    from orpheus_service.api.wiring import deps_factory

    started: list[ServerThread] = []

    def start(
        llama_url: str,
        *,
        snac_dir: Path | None = None,
        batching: bool = True,
        **settings: Any,
    ) -> ServerThread:
        config = service_settings(
            llama_endpoint=llama_url,
            snac_model=str(snac_dir or small_snac_dir),
            snac_device="cpu",
            **settings,
        )
        server = ServerThread(create_app(config, deps_factory(batching=batching))).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
