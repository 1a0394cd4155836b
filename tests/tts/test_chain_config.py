"""A fallback chain named in UNMUTE_TTS_BACKEND: the registry, the Orchestrator, the CLI."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.support.environment import subprocess_env
from tests.support.fake_backend import FakeTextToSpeech
from tests.tts.cli_support import run_cli
from unmute.tts import availability as av
from unmute.tts import registry
from unmute.tts.base import BackendError
from unmute.tts.fallback import FallbackTextToSpeech
from unmute.tts.orchestrator import Orchestrator
from unmute.tts.pluggable import TextToSpeech
from unmute.tts.protocol import FloatArray, TTSClientEosMessage, TTSTextMessage
from unmute.tts.registry import BackendSpec, UnknownBackendError
from unmute.tts.settings import TTSSettings


class Down(FakeTextToSpeech):
    async def _open(self) -> None:
        raise BackendError("service down")


class Cold(FakeTextToSpeech):
    async def _open(self) -> None:
        await asyncio.Event().wait()


WARMED: list[str] = []


async def _warm_down() -> None:
    WARMED.append("down")


async def _warm_fake() -> None:
    WARMED.append("fake")


FAKES = {
    "down": BackendSpec(
        name="down", description="always down", create=lambda v: Down(v), prewarm=_warm_down
    ),
    "cold": BackendSpec(name="cold", description="never ready", create=lambda v: Cold(v)),
    "fake": BackendSpec(
        name="fake", description="works", create=lambda v: FakeTextToSpeech(v), prewarm=_warm_fake
    ),
}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_discover", lambda: FAKES)
    av.reset()
    yield
    av.reset()


def test_a_comma_separated_backend_setting_is_a_chain_in_order(fakes: None) -> None:
    settings = TTSSettings(tts_backend=" down , fake ")
    assert registry.resolve_backend_name(settings) == ("down,fake", "UNMUTE_TTS_BACKEND is set")
    tts = registry.create_tts(settings=settings)
    assert isinstance(tts, FallbackTextToSpeech)
    assert [member.name for member in tts.members] == ["down", "fake"]


def test_the_chain_takes_its_deadline_from_the_settings(fakes: None) -> None:
    settings = TTSSettings(tts_backend="down,fake", tts_fallback_first_audio_s=2.5)
    tts = registry.create_tts(settings=settings)
    assert isinstance(tts, FallbackTextToSpeech) and tts.policy.first_audio_s == 2.5


def test_a_single_name_is_no_chain(fakes: None) -> None:
    assert isinstance(registry.create_tts("fake"), FakeTextToSpeech)


@pytest.mark.parametrize(
    ("chain", "complaint"),
    [("down,", "an empty name"), ("fake,fake", "fake named twice"), ("fake,nope", "'nope'")],
)
def test_a_malformed_chain_is_refused_naming_the_problem(
    fakes: None, chain: str, complaint: str
) -> None:
    with pytest.raises(UnknownBackendError, match=complaint):
        registry.resolve_backend_name(TTSSettings(tts_backend=chain))


class Sink:
    def __init__(self) -> None:
        self.words: list[str] = []

    async def audio(self, pcm: FloatArray) -> None:
        pass

    async def word(self, word: TTSTextMessage) -> None:
        self.words.append(word.text)


async def test_the_orchestrator_speaks_through_a_chain_and_names_the_member_that_spoke(
    fakes: None,
) -> None:
    sink = Sink()
    orchestrator = Orchestrator(sink, backend="down,fake")

    async def deltas() -> AsyncIterator[str]:
        yield "Hello there "
        yield "world."

    result = await orchestrator.speak(deltas())
    assert result.error is None
    assert result.backend == "fake"
    assert sink.words == ["Hello", "there", "world."]


async def test_orchestrator_prewarm_wakes_every_member_of_the_chain(fakes: None) -> None:
    WARMED.clear()
    await Orchestrator(Sink(), backend="down,fake").prewarm()
    assert sorted(WARMED) == ["down", "fake"]


async def test_the_drop_in_starts_up_within_unmutes_limit_and_speaks_through_the_chain(
    fakes: None,
) -> None:
    settings = TTSSettings(tts_backend="cold,fake", tts_fallback_first_audio_s=0.2)
    tts = TextToSpeech(settings=settings)
    async with asyncio.timeout(0.5):
        await tts.start_up()
    assert tts.state() == "connected"
    for word in ("Hello", "there."):
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    received = [message async for message in tts]
    assert [m.text for m in received if isinstance(m, TTSTextMessage)] == ["Hello", "there."]


async def test_a_fallback_counts_in_the_prometheus_counter(fakes: None) -> None:
    labels = {"reason": "start-up", "from_backend": "down", "to_backend": "fake"}
    before = REGISTRY.get_sample_value("unmute_tts_fallbacks_total", labels) or 0.0
    await Orchestrator(Sink(), backend="down,fake").speak(one_word())
    assert REGISTRY.get_sample_value("unmute_tts_fallbacks_total", labels) == before + 1


async def one_word() -> AsyncIterator[str]:
    yield "Hello."


# -- the CLI, with the real backends ----------------------------------------------------


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a service that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_say_through_a_chain_whose_first_service_is_down_speaks_with_the_next(
    tmp_path: Path, closed_port_url: str
) -> None:
    env = subprocess_env(ORPHEUS_FASTAPI_URL=closed_port_url)
    done = run_cli(
        "say", "--backend", "orpheus,espeak", "--json", "Hello there.", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["backend"] == "espeak" and summary["audio_s"] > 0


def test_backends_shows_each_chain_members_availability(
    tmp_path: Path, closed_port_url: str
) -> None:
    env = subprocess_env(
        ORPHEUS_FASTAPI_URL=closed_port_url,
        UNMUTE_TTS_BACKEND="orpheus,espeak",
        UNMUTE_TTS_FALLBACK_PROBE_TIMEOUT_S="2",
    )
    done = run_cli("backends", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["orpheus"]["chain_position"] == 1
    assert rows["orpheus"]["availability"].startswith("unavailable: ")
    assert rows["espeak"]["chain_position"] == 2
    assert rows["espeak"]["availability"] == "available"
    assert "chain_position" not in rows["fixture"]
    text = run_cli("backends", cwd=tmp_path, env=env).stdout
    assert "fallback chain orpheus,espeak:" in text
    assert "  2. espeak     available" in text
