"""Fixtures of the Modal tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.environment import isolate


@pytest.fixture
def no_modal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`isolated_env` (no project or Modal variable, no `.env`) with HOME an empty folder
    (no Modal token file)."""
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path
