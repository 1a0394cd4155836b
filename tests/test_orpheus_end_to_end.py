"""The `orpheus` backend against the real Orpheus service app.

Part 1 runs the service's FastAPI app (uvicorn, 127.0.0.1, free port) on a fake
engine: the wire protocol, auth, capacity and cancellation as the service really
implements them, with no llama-server. Part 2 runs the full local stack (real
llama-server with the tiny GGUF, random-weight SNAC) through `orpheus_service_env`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from tests.support.environment import subprocess_env
from tests.support.sessions import speak
from tests.support.waiting import wait_until

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from backends.fixture.format import AudioEvent, TextEvent
from backends.fixture.recorder import record_fixtures_async
from backends.orpheus.client import OrpheusAuthError, OrpheusTextToSpeech
from backends.orpheus.settings import OrpheusClientSettings
from orpheus_service.api.app import ServiceDeps, create_app
from orpheus_service.llama.server import LlamaServerProcess, free_port
from orpheus_service.settings import OrpheusSettings
from tests.support.service_support import FakeEngine, ServerThread, llama_ok
from unmute.tts import registry
from unmute.tts.base import BackendError
from unmute.tts.cli import CollectingSink
from unmute.tts.orchestrator import Orchestrator
from unmute.tts.protocol import (
    SAMPLE_RATE,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)
from unmute.tts.settings import reset_settings

if TYPE_CHECKING:
    from tests.support.orpheus_fixtures import OrpheusService

API_KEY = "sk-e2e-51c0"


pytestmark = pytest.mark.usefixtures("isolated_env")


def start_service(engine: FakeEngine, **settings: Any) -> ServerThread:
    config = OrpheusSettings(**settings)
    app = create_app(config, ServiceDeps(engine=engine, check_llama=llama_ok))
    return ServerThread(app).start()


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(chunks_per_word=2)


@pytest.fixture
def service(engine: FakeEngine) -> Iterator[ServerThread]:
    server = start_service(engine, api_key=API_KEY, max_sessions=1)
    yield server
    server.stop()


def client(server: ServerThread, **overrides: Any) -> OrpheusTextToSpeech:
    values: dict[str, Any] = {
        "fastapi_url": server.http,
        "api_key": API_KEY,
        "startup_budget_s": 5.0,
        "retry_initial_backoff_s": 0.05,
        "retry_max_backoff_s": 0.2,
    }
    values.update(overrides)
    voice = values.pop("voice", None)
    return OrpheusTextToSpeech(voice, settings=OrpheusClientSettings(**values))


# -- part 1: the real app on a fake engine ------------------------------------------------


async def test_speaks_through_the_service_app_with_words_and_float_audio(
    service: ServerThread, engine: FakeEngine
) -> None:
    messages = await speak(client(service, voice="leo"), "Hello from unmute.")
    assert [m for m in messages if isinstance(m, TTSErrorMessage)] == []
    words = [m.text for m in messages if isinstance(m, TTSTextMessage)]
    assert words == ["Hello", "from", "unmute."]
    audio = [m for m in messages if isinstance(m, TTSAudioMessage)]
    assert len(audio) == 6 and all(m.pcm.dtype == np.float32 and len(m.pcm) == 2048 for m in audio)
    assert engine.syntheses[0].voice == "leo" and engine.finished == 1


async def test_the_service_refuses_a_wrong_key_and_the_client_does_not_retry(
    service: ServerThread,
) -> None:
    tts = client(service, api_key="sk-wrong")
    with pytest.raises(OrpheusAuthError, match="ORPHEUS_API_KEY") as caught:
        await tts.start_up()
    assert tts.connections == 1 and "sk-wrong" not in str(caught.value)


async def test_an_unknown_voice_fails_without_retry(service: ServerThread) -> None:
    tts = client(service, voice="nobody")
    with pytest.raises(BackendError, match="nobody"):
        await tts.start_up()
    assert tts.connections == 1


async def test_no_free_channels_is_retried_until_a_channel_frees(
    service: ServerThread, engine: FakeEngine
) -> None:
    holder = client(service)
    await holder.start_up()  # takes the only channel
    waiter = client(service)
    start = asyncio.create_task(waiter.start_up())
    await wait_until(lambda: waiter.connections >= 2)
    await holder.shutdown()
    await start
    assert waiter.metrics.retries >= 1 and waiter.state() == "connected"
    await waiter.shutdown()


async def test_shutdown_mid_stream_cancels_the_service_synthesis(engine: FakeEngine) -> None:
    engine.chunk_delay_s = 0.05
    server = start_service(engine)
    try:
        tts = client(server, api_key=None)
        await tts.start_up()
        for word in ["one", "two", "three", "four", "five", "six"]:
            await tts.send(word)
        async for message in tts:
            if isinstance(message, TTSAudioMessage):
                await asyncio.wait_for(tts.shutdown(), 1)
        await wait_until(lambda: engine.cancelled == 1, timeout_s=1.0)
        assert engine.finished == 0
    finally:
        server.stop()


async def test_prewarm_finds_the_service_healthy(
    service: ServerThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from backends.orpheus import prewarm

    caplog.set_level("INFO")
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", service.http)
    await prewarm()
    assert "orpheus service awake" in caplog.text


async def record_then_replay_identically(
    monkeypatch: pytest.MonkeyPatch, fixture_file: Path, text: str
) -> None:
    """`record` an orpheus session (ORPHEUS_FASTAPI_URL must be set), replay it with
    the fixture backend, and check the replay gives the recorded audio and words."""
    (session,) = await record_fixtures_async("orpheus", [text], fixture_file)
    assert session.backend == "orpheus" and session.text == text
    recorded_audio = [e.samples() for e in session.events if isinstance(e, AudioEvent)]
    recorded_words = [
        (e.text, e.start_s, e.stop_s) for e in session.events if isinstance(e, TextEvent)
    ]
    assert recorded_audio and recorded_words

    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(fixture_file))
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    registry.refresh()
    replayed = await speak(registry.create_tts("fixture"), text)
    replayed_audio = [m.pcm for m in replayed if isinstance(m, TTSAudioMessage)]
    replayed_words = [
        (m.text, m.start_s, m.stop_s) for m in replayed if isinstance(m, TTSTextMessage)
    ]
    assert replayed_words == recorded_words
    assert len(replayed_audio) == len(recorded_audio)
    assert all(np.array_equal(a, b) for a, b in zip(replayed_audio, recorded_audio, strict=True))


async def test_record_captures_an_orpheus_session_that_the_fixture_backend_replays(
    service: ServerThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", service.http)
    monkeypatch.setenv("ORPHEUS_API_KEY", API_KEY)
    await record_then_replay_identically(
        monkeypatch, tmp_path / "orpheus.msgpack", "Hello from unmute."
    )


# -- part 2: the full local stack (real llama-server, random-weight SNAC) -----------------

TEXT = "Hello from unmute."


async def llm(text: str) -> AsyncIterator[str]:
    """Stream `text` in fragments that cut words, as an LLM does."""
    for i in range(0, len(text), 4):
        yield text[i : i + 4]


def words_of(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split()]


@pytest.mark.parametrize("name", ["fixture", "espeak", "orpheus"])
async def test_the_same_orchestrator_run_passes_with_each_backend_chosen_by_environment(
    name: str,
    orpheus_service_env: OrpheusService,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if name == "fixture":  # its recording: this very text, spoken by orpheus
        await record_fixtures_async("orpheus", [TEXT], tmp_path / "orpheus.msgpack")
        monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(tmp_path / "orpheus.msgpack"))
        monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", name)
    reset_settings()
    registry.refresh()
    reason = registry.get_backend(name).unavailable_reason()
    if reason is not None:
        pytest.skip(f"{name} is not usable here: {reason}")

    sink = CollectingSink()
    result = await Orchestrator(sink).speak(llm(TEXT))

    assert result.backend == name
    assert result.error is None
    assert result.ttfa_s is not None and result.audio_s > 0.3
    assert words_of(" ".join(result.words)) == words_of(TEXT)
    assert [w.text for w in sink.words] == result.words
    assert sum(len(c) for c in sink.chunks) == pytest.approx(result.audio_s * SAMPLE_RATE)


def slots_processing(llama_url: str) -> int:
    with urllib.request.urlopen(f"{llama_url}/slots", timeout=2) as response:
        slots: list[dict[str, Any]] = json.loads(response.read())
    return sum(1 for slot in slots if slot.get("is_processing"))


async def test_shutdown_mid_stream_makes_the_service_cancel_the_llama_request(
    llama_orpheus_drops_server: LlamaServerProcess,
    orpheus_snac_dir: Path,
    orpheus_service_starter: Callable[..., OrpheusService],
) -> None:
    # This llama-server never ends a segment: generation runs until max_tokens.
    llama_url = llama_orpheus_drops_server.base_url
    service = orpheus_service_starter(llama_url, orpheus_snac_dir, max_tokens=4000)
    try:
        tts = OrpheusTextToSpeech(
            settings=OrpheusClientSettings(fastapi_url=service.url, startup_budget_s=10)
        )
        await tts.start_up()
        for word in TEXT.split():
            await tts.send(word)
        await tts.send(TTSClientEosMessage())
        async for message in tts:
            if isinstance(message, TTSAudioMessage):
                assert await asyncio.to_thread(slots_processing, llama_url) == 1
                await asyncio.wait_for(tts.shutdown(), 1)
        # the service cancels its request, llama frees the slot
        await wait_until(lambda: slots_processing(llama_url) == 0, timeout_s=1)
    finally:
        service.stop()


async def test_record_captures_a_full_stack_orpheus_session_the_fixture_replays(
    orpheus_service_env: OrpheusService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await record_then_replay_identically(monkeypatch, tmp_path / "orpheus.msgpack", TEXT)


@pytest.mark.slow
def test_unmute_tts_say_works_against_unmute_tts_serve(
    llama_orpheus_server: LlamaServerProcess, orpheus_snac_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = subprocess_env()
    cli = [sys.executable, "-m", "unmute.tts.cli"]
    serve_env = {
        **env,
        "ORPHEUS_LLAMA_ENDPOINT": llama_orpheus_server.base_url,
        "ORPHEUS_SNAC_MODEL": str(orpheus_snac_dir),
        "ORPHEUS_SNAC_DEVICE": "cpu",
    }
    serve = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--log-level", "warning"],
        env=serve_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        say_env = {
            **env,
            "UNMUTE_TTS_BACKEND": "orpheus",
            "ORPHEUS_FASTAPI_URL": f"http://127.0.0.1:{port}",
            "ORPHEUS_STARTUP_BUDGET_S": "60",  # covers the service's own start
        }
        wav = tmp_path / "say.wav"
        said = subprocess.run(
            [*cli, "say", TEXT, "--json", "-o", str(wav)],
            env=say_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert said.returncode == 0, said.stderr
        summary = json.loads(said.stdout)
        assert summary["backend"] == "orpheus" and summary["words"] == 3
        assert summary["audio_s"] > 0.3 and wav.stat().st_size > 44
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
