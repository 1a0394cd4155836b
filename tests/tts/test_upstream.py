"""Finding upstream unmute's modules, when installed beside the library."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from unmute.tts import upstream


@pytest.fixture(autouse=True)
def forget_found_modules() -> Iterator[None]:
    upstream.refresh()
    yield
    upstream.refresh()


def fake_exceptions(monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    class MissingServiceAtCapacity(Exception):
        pass

    module = ModuleType(upstream.EXCEPTIONS)
    module.MissingServiceAtCapacity = MissingServiceAtCapacity  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, upstream.EXCEPTIONS, module)
    monkeypatch.setitem(sys.modules, upstream.METRICS, ModuleType(upstream.METRICS))
    return MissingServiceAtCapacity


def test_outside_unmute_no_module_is_found_and_no_capacity_error_exists() -> None:
    assert upstream.module(upstream.METRICS) is None
    assert not upstream.inside_unmute()
    assert upstream.at_capacity_error() is None


def test_inside_unmute_the_capacity_error_is_upstreams_naming_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error_class = fake_exceptions(monkeypatch)
    assert upstream.inside_unmute()
    error = upstream.at_capacity_error("tts")
    assert isinstance(error, error_class) and error.args == ("tts",)


def test_a_module_found_missing_stays_missing_until_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert upstream.module(upstream.EXCEPTIONS) is None
    fake_exceptions(monkeypatch)
    assert upstream.module(upstream.EXCEPTIONS) is None
    upstream.refresh()
    assert upstream.module(upstream.EXCEPTIONS) is sys.modules[upstream.EXCEPTIONS]


def test_an_absent_module_is_none() -> None:
    assert upstream.module("unmute.no_such_upstream_module") is None


def test_a_module_failing_on_import_counts_as_absent_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken_upstream_module.py").write_text("raise RuntimeError('upstream bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert upstream.module("broken_upstream_module") is None
    assert "running as if outside unmute" in caplog.text and "upstream bug" in caplog.text
