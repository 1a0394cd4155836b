"""Shared pytest fixtures: real llama-server instances with tiny GGUFs, the local service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import chrome_driver
from unmute.tts.settings import reset_settings

pytest_plugins = [
    "tests.support.environment",
    "tests.support.llama_fixtures",
    "tests.support.service_fixtures",
    "tests.support.orpheus_fixtures",
    "tests.support.kyutai_fixtures",
    "tests.support.openai_fixtures",
]

_LLAMA_FIXTURE_PREFIXES = ("llama_",)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test reads settings from its own environment: the cache starts empty and is
    emptied again after the test (its monkeypatched variables are gone then)."""
    reset_settings()
    yield
    reset_settings()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need the llama-server binary with `llama`, by the fixtures they use,
    and those of a module driving chromium (it imports `chrome_driver`) with `browser`."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name.startswith(_LLAMA_FIXTURE_PREFIXES) for name in names):
            item.add_marker(pytest.mark.llama)
        module = getattr(item, "module", None)
        if getattr(module, "chrome_driver", None) is chrome_driver:
            item.add_marker(pytest.mark.browser)
