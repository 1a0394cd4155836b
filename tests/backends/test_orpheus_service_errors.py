"""The `orpheus` backend and `unmute-tts` as a user meets them against the real service:
the voice list comes from the service, and each failure is one clear line that names
its cause (and the setting to change), with nothing else on stderr."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.environment import subprocess_env
from tests.support.fake_unmute import collect
from tests.support.service_support import FakeEngine, start_fake_service
from tests.tts.cli_support import run_cli
from unmute.tts.pluggable import TextToSpeech
from unmute.tts.protocol import TTSErrorMessage


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts TCP connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def orpheus_env(url: str, **extra: str) -> dict[str, str]:
    return subprocess_env(ORPHEUS_FASTAPI_URL=url, UNMUTE_TTS_BACKEND="orpheus", **extra)


def test_voices_lists_what_the_service_lists(tmp_path: Path) -> None:
    server = start_fake_service(FakeEngine())
    try:
        served = httpx.get(server.http + "/v1/audio/voices").json()["voices"]
        done = run_cli("voices", "--backend", "orpheus", cwd=tmp_path, env=orpheus_env(server.http))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == served


def test_voices_of_an_unreachable_service_is_an_error_not_a_fixed_list(
    tmp_path: Path, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    done = run_cli("voices", "--backend", "orpheus", cwd=tmp_path, env=orpheus_env(url))
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and "unreachable" in line and url in line


def test_voices_into_a_pipe_closed_early_exits_0_quietly(tmp_path: Path) -> None:
    code = "import sys\nfrom unmute.tts.cli import main\nsys.exit(main(sys.argv[1:]))"
    writer = subprocess.Popen(
        [sys.executable, "-c", code, "voices", "--backend", "espeak"],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()  # `| head -1` that has had its line before the rest is written
    assert writer.wait(60) == 0
    assert writer.stderr.read() == b""


def test_a_failing_synthesis_prints_only_its_error_line(tmp_path: Path) -> None:
    server = start_fake_service(FakeEngine(fail_after_words=0))
    try:
        done = run_cli("say", "hello there", cwd=tmp_path, env=orpheus_env(server.http))
    finally:
        server.stop()
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")


def test_a_port_that_never_answers_is_named_with_the_setting(
    tmp_path: Path, silent_port: int
) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    env = orpheus_env(url, ORPHEUS_WS_CONNECT_TIMEOUT_S="0.3", UNMUTE_TTS_STARTUP_TIMEOUT_S="1")
    done = run_cli("say", "hello", cwd=tmp_path, env=env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert "did not answer" in line and "ORPHEUS_WS_CONNECT_TIMEOUT_S" in line


async def test_inside_unmute_a_port_that_never_answers_is_named_once(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in orpheus_env(
        f"http://127.0.0.1:{silent_port}",
        ORPHEUS_WS_CONNECT_TIMEOUT_S="0.3",
        UNMUTE_TTS_STARTUP_TIMEOUT_S="1",
    ).items():
        monkeypatch.setenv(name, value)
    tts = TextToSpeech()
    await tts.start_up()
    messages = await asyncio.wait_for(collect(tts), 10)
    (error,) = messages
    assert isinstance(error, TTSErrorMessage)
    assert "orpheus: orpheus:" not in error.message
    assert "did not answer" in error.message and "ORPHEUS_WS_CONNECT_TIMEOUT_S" in error.message
