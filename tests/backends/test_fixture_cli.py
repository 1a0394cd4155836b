"""`unmute-tts record`: sessions of a registered backend recorded into a fixture file,
one per text given; a backend that is not registered is refused and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.fixture.format import read_fixture_file
from tests.tts.cli_support import run_cli
from unmute.tts.registry import get_backend

needs_espeak = pytest.mark.skipif(
    get_backend("espeak").unavailable_reason() is not None, reason="needs the espeak extra"
)


@needs_espeak
def test_record_writes_one_session_per_text(tmp_path: Path) -> None:
    done = run_cli(
        "record",
        "Hello there.",
        "Good bye.",
        "--backend",
        "espeak",
        "-o",
        "f.msgpack",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "recorded 2 session(s) from espeak" in done.stdout
    sessions = read_fixture_file(tmp_path / "f.msgpack")
    assert [s.text for s in sessions] == ["Hello there.", "Good bye."]


def test_an_unknown_backend_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    done = run_cli("record", "Hi.", "--backend", "nobody", "-o", "f.msgpack", cwd=tmp_path)
    assert done.returncode != 0
    assert "nobody" in done.stderr
    assert not (tmp_path / "f.msgpack").exists()
