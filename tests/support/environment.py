"""Keeping the machine's settings out of tests, in the two kinds tests need.

- `isolated_env` (a fixture; `pytestmark = pytest.mark.usefixtures("isolated_env")`):
  this process, for one test, without any project variable (`PROJECT_PREFIXES`), run
  from the test's own folder (so no `.env` is read), settings read afresh.
- `subprocess_env(**variables)`: the environment for a child process, without any
  project variable, plus `variables`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from unmute.tts.settings import reset_settings

PROJECT_PREFIXES = ("UNMUTE_", "ORPHEUS_", "KYUTAI_", "OPENAI_", "PIPER_", "MODAL_")
"""Prefixes of the variables this project's settings read (and Modal's credentials)."""


def isolate(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Remove every project variable for the test, change to `folder`, reset settings."""
    for name in list(os.environ):
        if name.startswith(PROJECT_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(folder)
    reset_settings()


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No project variable or `.env` file of the machine reaches this test."""
    isolate(monkeypatch, tmp_path)


def subprocess_env(*, also_drop: Iterable[str] = (), **variables: str | None) -> dict[str, str]:
    """This process's environment without project variables or those starting with one of
    `also_drop`, plus `variables` (None values left out): for a child process."""
    dropped = (*PROJECT_PREFIXES, *also_drop)
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update({k: v for k, v in variables.items() if v is not None})
    return env
