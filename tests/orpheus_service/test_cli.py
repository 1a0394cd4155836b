"""`unmute-tts serve` against a local llama-server serves curl, openai and a WebSocket client."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import openai
import pytest
import websockets

from orpheus_service.llama.server import LlamaServerProcess, free_port
from tests.support.environment import subprocess_env
from tests.support.llama import ORPHEUS_FRAMES

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
SEGMENT_BYTES = 2 * ORPHEUS_FRAMES * 2048


@pytest.fixture(scope="module")
def served(
    llama_orpheus_server: LlamaServerProcess,
    small_snac_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = subprocess_env(ORPHEUS_SNAC_MODEL=str(small_snac_dir), ORPHEUS_API_KEY="sk-cli")
    command = [
        sys.executable,
        "-m",
        "unmute.tts.cli",
        "serve",
        "--port",
        str(port),
        "--llama-endpoint",
        llama_orpheus_server.base_url,
        "--snac-device",
        "cpu",
        "--log-level",
        "warning",
    ]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"unmute-tts serve did not come up:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    yield url, process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_is_found_through_the_unmute_tts_commands_entry_point() -> None:
    import orpheus_service.cli
    from unmute.tts.cli import COMMANDS_ENTRY_POINT_GROUP

    found = {ep.name: ep for ep in entry_points(group=COMMANDS_ENTRY_POINT_GROUP)}
    assert found["serve"].load() is orpheus_service.cli.register


def test_serve_is_registered_with_host_and_port_flags() -> None:
    from unmute.tts.cli import build_parser

    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9001"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 9001)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_gets_a_wav(served: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    url, _ = served
    out = tmp_path / "speech.wav"
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-X",
            "POST",
            f"{url}/v1/audio/speech",
            "-H",
            "Authorization: Bearer sk-cli",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"input": "Hello world! This is a test.", "voice": "tara", "response_format": "wav"}',
            "--output",
            str(out),
        ],
        check=True,
        timeout=30,
    )
    data = out.read_bytes()
    assert data[:4] == b"RIFF" and len(data) > SEGMENT_BYTES


def test_openai_client_gets_pcm(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-cli", max_retries=0)
    response = client.audio.speech.create(
        model="orpheus", voice="tara", input="Hello.", response_format="pcm"
    )
    assert len(response.read()) == SEGMENT_BYTES


async def test_websocket_client_gets_pcm(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = served
    async with websockets.connect(
        url.replace("http", "ws") + "/v1/audio/speech/stream/ws?voice=tara",
        additional_headers={"Authorization": "Bearer sk-cli"},
    ) as ws:
        await ws.send("Hello.")
        received = [m async for m in ws]
    assert sum(len(m) for m in received) == SEGMENT_BYTES


def test_serve_stops_cleanly_on_ctrl_c(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    _, process = served
    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0
