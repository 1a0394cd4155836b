"""The service on a fake engine, as most API tests use it (a module may define its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service_support import FakeEngine, ServerThread, start_fake_service


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunks_per_word=2)


@pytest.fixture
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, max_sessions=1)
    yield srv
    srv.stop()
