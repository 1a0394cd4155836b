"""Upstream unmute's own handler on the chain `orpheus,espeak`: never silent, never two voices.

One driver process (`drive_fallback.py`, Python 3.12, upstream's checkout with the
README's one-line change) speaks three replies while this test starts and kills the
Orpheus service (`unmute-tts serve` on the tiny GGUF's llama-server) around them:

1. the service not running: the reply is spoken by espeak, at once;
2. the service started after that reply: the chain's probe brings orpheus back, and
   the next reply is spoken by it;
3. the service killed once that reply's first word reached the handler (after its
   first audio): the turn ends with an error, no second voice finishes it, and the
   chat history holds only the words heard.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orpheus_service.llama.server import LlamaServerProcess
from tests.unmute_host.hosting import copy_checkout, host_subprocess_env
from unmute.tts.health import poll_health

pytestmark = [pytest.mark.slow, pytest.mark.llama, pytest.mark.timeout(900)]

REPLY = (
    "Here is a longer answer, so that speaking it takes a while. "
    "The quick brown fox jumps over the lazy dog, and then it runs into the woods. "
    "After that the dog wakes up, looks around, and goes back to sleep in the sun."
)
DRIVER = Path(__file__).with_name("drive_fallback.py")
FIRST_AUDIO_LIMIT_S = 1.5


@dataclass
class ServiceProcess:
    """`unmute-tts serve` on a fixed port, started and killed on demand."""

    port: int
    llama_url: str
    snac_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "unmute.tts.cli", "serve", "--port", str(self.port)]
        command += ["--llama-endpoint", self.llama_url, "--snac-model", str(self.snac_dir)]
        command += ["--snac-device", "cpu", "--log-level", "warning"]
        env = host_subprocess_env(ORPHEUS_MAX_SESSIONS="4")
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        answer = poll_health(f"{self.url}/health", timeout_s=120, interval_s=0.1)
        assert answer.healthy, answer.describe()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@dataclass
class ChainRun:
    result: dict[str, Any]
    log: str
    steps: list[str] = field(default_factory=lambda: list[str]())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chain_run(
    host_python: Path,
    upstream_dir: Path,
    llama_orpheus_server: LlamaServerProcess,
    orpheus_snac_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ChainRun]:
    work = tmp_path_factory.mktemp("fallback")
    checkout = copy_checkout(upstream_dir, work / "checkout", pluggable=True)
    service = ServiceProcess(_free_port(), llama_orpheus_server.base_url, orpheus_snac_dir)
    env = host_subprocess_env(
        PYTHONPATH=str(checkout),
        KYUTAI_LLM_MODEL="fake-llm",
        UNMUTE_TTS_BACKEND="orpheus,espeak",
        ORPHEUS_FASTAPI_URL=service.url,
        UNMUTE_TTS_FALLBACK_PROBE_INTERVAL_S="0.2",
        UNMUTE_TTS_FALLBACK_FIRST_AUDIO_S="3",  # orpheus on these shared cores may be slow
        ORPHEUS_PREWARM_TIMEOUT_S="5",
    )
    config = {"reply": REPLY, "timeout_s": 60}
    log = work / "driver.log"
    steps: list[str] = []
    with log.open("w") as stderr:
        driver = subprocess.Popen(
            [str(host_python), "-P", str(DRIVER), json.dumps(config)],
            cwd=work,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert driver.stdin is not None and driver.stdout is not None
        last = ""
        try:
            for line in driver.stdout:
                last = line if line.strip() else last
                if line.startswith("STEP down"):
                    steps.append("down")
                    service.start()
                    driver.stdin.write("go\n")
                    driver.stdin.flush()
                elif line.startswith("STEP first-word"):
                    steps.append("first-word")
                    service.kill()
            driver.wait(timeout=120)
        finally:
            driver.kill()
            service.kill()
    text = log.read_text()
    assert driver.returncode == 0, f"the driver failed:\n{text[-6000:]}"
    yield ChainRun(json.loads(last), text, steps)


def _turn(run: ChainRun, name: str) -> dict[str, Any]:
    turn: dict[str, Any] = run.result[name]
    if "error" in turn:
        pytest.fail(f"the {name} reply failed:\n{turn['error']}\n{run.log[-4000:]}")
    return turn


def _speakers(turn: dict[str, Any]) -> list[str]:
    return [u["backend"] for u in turn["utterances"]]


def _words(turn: dict[str, Any]) -> list[str]:
    return [o["text"] for o in turn["seen"] if o["type"] == "Text"]


def _first_audio_after_first_word(turn: dict[str, Any]) -> float:
    first_audio = next(o["t"] for o in turn["seen"] if o["type"] == "Audio")
    return float(first_audio - turn["first_word_at"])


def test_with_the_service_down_the_reply_is_spoken_by_the_next_backend(chain_run: ChainRun) -> None:
    turn = _turn(chain_run, "down")
    assert _speakers(turn) == ["espeak"]
    assert [o for o in turn["seen"] if o["type"] == "Error"] == []
    assert turn["history"].split() == REPLY.split()


def test_with_the_service_down_first_audio_comes_within_the_limit(chain_run: ChainRun) -> None:
    assert _first_audio_after_first_word(_turn(chain_run, "down")) < FIRST_AUDIO_LIMIT_S


def test_the_fallback_is_counted_with_its_reason_and_members(chain_run: ChainRun) -> None:
    [utterance] = _turn(chain_run, "down")["utterances"]
    assert utterance["fallbacks"] == ["orpheus -> espeak (start-up)"]
    assert chain_run.result["fallbacks"] == [["start-up", "orpheus", "espeak", 1]]


def test_once_the_service_is_up_a_later_reply_is_spoken_by_it(chain_run: ChainRun) -> None:
    assert chain_run.result["available_before_up"] is True
    turn = _turn(chain_run, "up")
    assert _speakers(turn) == ["orpheus"]
    assert turn["utterances"][0]["fallbacks"] == []
    assert turn["history"].split() == REPLY.split()


def test_a_service_killed_after_its_first_audio_ends_the_turn_with_an_error(
    chain_run: ChainRun,
) -> None:
    assert chain_run.steps == ["down", "first-word"]
    turn = _turn(chain_run, "killed")
    assert _speakers(turn) == ["orpheus"]  # no second voice finished it
    assert turn["seen"][-1]["type"] == "Error"
    assert "orpheus" in turn["seen"][-1]["text"]


def test_after_the_kill_the_history_holds_only_the_words_heard(chain_run: ChainRun) -> None:
    turn = _turn(chain_run, "killed")
    heard = _words(turn)
    assert turn["history"].split() == heard
    assert 1 <= len(heard) < len(REPLY.split())
    assert heard == REPLY.split()[: len(heard)]
