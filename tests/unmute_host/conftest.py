"""Fixtures for the tests inside upstream unmute: its tree, Python 3.12, the environments.

Tests here skip (with the reason) only when the upstream tree or a Python 3.12 is
missing. A failing environment build (no network for uv's first download, a broken
lock) fails them with the build's output instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unmute_host.hosting import host_env_script


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """An unmute checkout: UNMUTE_UPSTREAM_DIR, else ../shared/upstream/unmute."""
    script = host_env_script()
    upstream: Path = script.default_upstream_dir()
    problem: str | None = script.upstream_problem(upstream)
    if problem:
        pytest.skip(f"upstream unmute tree missing: {problem}")
    return upstream


@pytest.fixture(scope="session")
def python312() -> Path:
    """A Python 3.12 interpreter (upstream unmute requires 3.12)."""
    script = host_env_script()
    python: Path | None = script.find_python312()
    problem: str | None = script.python312_problem(python)
    if problem or python is None:
        pytest.skip(f"no Python 3.12 for upstream unmute: {problem}")
    return python


@pytest.fixture(scope="session")
def host_env(upstream_dir: Path, python312: Path) -> Callable[[str], Path]:
    """`host_env(layout)`: the interpreter of a cached environment (see the script)."""
    script = host_env_script()
    built: dict[str, Path] = {}

    def get(layout: str) -> Path:
        if layout not in built:
            try:
                built[layout] = script.ensure_environment(
                    layout, upstream=upstream_dir, python=python312
                )
            except script.HostEnvError as exc:
                pytest.fail(f"building the {layout} environment failed: {exc}", pytrace=False)
        return built[layout]

    return get


@pytest.fixture(scope="session")
def host_python(host_env: Callable[[str], Path]) -> Path:
    """Python 3.12 with upstream's locked dependencies and this project (non-editable)."""
    return host_env("host")
