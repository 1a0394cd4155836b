"""Fixtures of the Modal tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def no_modal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME is an empty folder and no MODAL_*/ORPHEUS_* variable is set."""
    for key in list(os.environ):
        if key.startswith(("MODAL_", "ORPHEUS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env file
    return tmp_path
