"""Shared pytest fixtures: real llama-server instances with tiny GGUFs, the local service."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.llama_fixtures",
    "tests.support.service_fixtures",
    "tests.support.orpheus_fixtures",
    "tests.support.kyutai_fixtures",
    "tests.support.openai_fixtures",
]

_LLAMA_FIXTURE_PREFIXES = ("llama_",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need the llama-server binary with `llama`, by the fixtures they use."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name.startswith(_LLAMA_FIXTURE_PREFIXES) for name in names):
            item.add_marker(pytest.mark.llama)
