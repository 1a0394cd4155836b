"""`unmute-tts say` shows progress on stderr while it speaks, only on a terminal.

The text goes through the orpheus backend to the local service on a fake engine that
takes 20 ms per chunk, so the speech lasts well over the progress line's delay on any
machine.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.environment import subprocess_env
from tests.support.service_support import FakeEngine, ServerThread, start_fake_service
from tests.tts.cli_support import run_cli

LONG_TEXT = "The quick brown fox jumps over the lazy dog, and then it rests. " * 4


@pytest.fixture(scope="module")
def service() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(chunk_delay_s=0.02))
    yield srv
    srv.stop()


@pytest.fixture
def env(service: ServerThread) -> dict[str, str]:
    return subprocess_env(UNMUTE_TTS_BACKEND="orpheus", ORPHEUS_FASTAPI_URL=service.http)


PROGRESS = re.compile(r"speaking: \d+\.\d s of audio, (\d+)/(\d+) words, RTF \d+\.\d\d")


def run_with_terminal_stderr(
    args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[int, str, str]:
    """Run `unmute-tts ARGS` with stderr on a pseudo-terminal; (status, stdout, terminal)."""
    controller, terminal = pty.openpty()
    code = "import sys\nfrom unmute.tts.cli import main\nsys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    seen = bytearray()
    while True:
        try:
            data = os.read(controller, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        seen += data
    os.close(controller)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    return process.wait(timeout=60), stdout, seen.decode()


def test_long_text_shows_audio_words_and_rtf_on_a_terminal(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "long.txt").write_text(LONG_TEXT)
    status, stdout, terminal = run_with_terminal_stderr(
        ["say", "--file", "long.txt"], tmp_path, env
    )
    assert status == 0, terminal
    updates = PROGRESS.findall(terminal)
    assert updates, f"no progress line in {terminal!r}"
    assert {total for _, total in updates} == {str(len(LONG_TEXT.split()))}
    spoken = [int(done) for done, _ in updates]
    assert spoken == sorted(spoken)
    assert terminal.endswith("\r\x1b[K"), "the progress line is erased at the end"
    assert "real-time x" in stdout


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "long.txt").write_text(LONG_TEXT)
    done = run_cli("say", "--file", "long.txt", cwd=tmp_path, env=env)
    assert done.returncode == 0
    assert done.stderr == ""


def test_no_progress_flag_silences_the_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "long.txt").write_text(LONG_TEXT)
    status, _, terminal = run_with_terminal_stderr(
        ["say", "--file", "long.txt", "--no-progress"], tmp_path, env
    )
    assert status == 0
    assert terminal == ""
