"""Orpheus-FastAPI's README commands work against the local service; WAV is the default."""

from __future__ import annotations

import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.service_support import FakeEngine, ServerThread, start_fake_service

README_CURL = """curl -X POST https://orpheus-fastapi-tts.modal.run/v1/audio/speech \\
  -H "Content-Type: application/json" \\
  -d '{"input": "Hello world! This is a test.", "voice": "tara"}' \\
  --output test.wav"""
"""Orpheus-FastAPI's "Generate speech" command, verbatim."""

README_WEBSOCKET = """import asyncio
import websockets

async def test_streaming():
    url = "wss://orpheus-fastapi-tts.modal.run/v1/audio/speech/stream/ws?voice=tara"
    async with websockets.connect(url) as ws:
        await ws.send("Hello world! This is a streaming test.")

        audio_chunks = []
        async for message in ws:
            if isinstance(message, bytes):
                audio_chunks.append(message)

        # Combine and save audio
        with open("stream_test.raw", "wb") as f:
            f.write(b''.join(audio_chunks))

        print(f"Received {len(audio_chunks)} audio chunks")

asyncio.run(test_streaming())
"""
"""Orpheus-FastAPI's "Test WebSocket streaming" snippet, verbatim (less blank-line spaces)."""


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(chunks_per_word=2))
    yield srv
    srv.stop()


def local(command: str, server: ServerThread) -> str:
    """Orpheus-FastAPI's command pointed at the local service."""
    return command.replace("https://orpheus-fastapi-tts.modal.run", server.http).replace(
        "wss://orpheus-fastapi-tts.modal.run", server.ws
    )


@pytest.mark.skipif(sys.platform == "win32", reason="runs the command in bash")
def test_the_readme_curl_writes_a_wav_that_wave_reads(server: ServerThread, tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", local(README_CURL, server)], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with wave.open(str(tmp_path / "test.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        frames = wav.readframes(24000 * 60)
    words = len(["Hello", "world!", "This", "is", "a", "test."])
    assert len(frames) == words * 2 * 2048 * 2


def test_the_readme_websocket_snippet_saves_the_streamed_pcm(
    server: ServerThread, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", local(README_WEBSOCKET, server)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Received ")
    words = len(["Hello", "world!", "This", "is", "a", "streaming", "test."])
    assert (tmp_path / "stream_test.raw").stat().st_size == words * 2 * 2048 * 2


def test_a_named_format_wins_over_the_default(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        json={"input": "hi", "voice": "tara", "response_format": "mp3"},
    )
    assert r.headers["content-type"] == "audio/mpeg"


def test_the_default_format_is_a_setting() -> None:
    srv = start_fake_service(FakeEngine(), default_response_format="mp3")
    try:
        r = httpx.post(f"{srv.http}/v1/audio/speech", json={"input": "hi", "voice": "tara"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/mpeg"
    finally:
        srv.stop()
