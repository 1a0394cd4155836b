"""The drop-in for unmute's TTS client inside unmute (upstream's modules faked, see
`tests/support/fake_unmute.py`): its metrics, recorder events, capacity refusals for
discovery, the default `kyutai` backend at the instance discovery picked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.environment import isolate
from tests.support.fake_backend import WORD_S, FakeTextToSpeech
from tests.support.fake_unmute import (
    FakeMetric,
    MissingServiceAtCapacity,
    Recorder,
    client,
    collect,
    install_fake_unmute,
    say,
    words,
)
from tests.support.kyutai_server import KyutaiTTSServer
from unmute.tts import upstream
from unmute.tts.base import AtCapacityError, RetryPolicy
from unmute.tts.pluggable import TextToSpeech, TTSAudioMessage, TTSErrorMessage


@pytest.fixture
def unmute_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[dict[str, FakeMetric]]:
    """Inside (a fake) unmute, with no TTS variable of the machine set."""
    isolate(monkeypatch, tmp_path)
    yield install_fake_unmute(monkeypatch)
    upstream.refresh()


class Refusing(FakeTextToSpeech):
    async def _open(self) -> None:
        self.opens += 1
        raise AtCapacityError("no free channels")


async def test_a_capacity_refusal_inside_unmute_raises_its_at_capacity_error(
    unmute_metrics: dict[str, FakeMetric],
) -> None:
    backend = Refusing(retry=RetryPolicy(budget_s=5, initial_backoff_s=0.05))
    tts = client(backend)
    with pytest.raises(MissingServiceAtCapacity):
        await asyncio.wait_for(tts.start_up(), 0.5)
    assert backend.state() == "closed"


async def test_counts_unmutes_tts_metrics(unmute_metrics: dict[str, FakeMetric]) -> None:
    tts = client()
    await tts.start_up()
    await say(tts, "one two three")
    messages = await collect(tts)
    audio = [m for m in messages if isinstance(m, TTSAudioMessage)]
    assert unmute_metrics["TTS_SESSIONS"].value == 1
    assert unmute_metrics["TTS_ACTIVE_SESSIONS"].value == 0
    assert unmute_metrics["TTS_SENT_FRAMES"].value == 3
    assert unmute_metrics["TTS_RECV_FRAMES"].value == len(audio)
    assert unmute_metrics["TTS_RECV_WORDS"].value == 3
    assert len(unmute_metrics["TTS_TTFT"].observed) == 1
    assert unmute_metrics["TTS_AUDIO_DURATION"].observed == [pytest.approx(3 * WORD_S)]
    assert len(unmute_metrics["TTS_GEN_DURATION"].observed) == 1


async def test_active_sessions_go_up_while_iterating(unmute_metrics: dict[str, FakeMetric]) -> None:
    tts = client()
    await tts.start_up()
    await say(tts, "one")
    iterator = aiter(tts)
    await anext(iterator)
    assert unmute_metrics["TTS_ACTIVE_SESSIONS"].value == 1
    await tts.shutdown()
    assert unmute_metrics["TTS_ACTIVE_SESSIONS"].value == 0


async def test_records_an_audio_event_per_chunk_received(
    unmute_metrics: dict[str, FakeMetric],
) -> None:
    recorder = Recorder()
    tts = client(recorder=recorder)
    await tts.start_up()
    await say(tts, "one two")
    messages = await collect(tts)
    samples = [len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)]
    assert [who for who, _ in recorder.events] == ["server"] * len(samples)
    assert [event.number_of_samples for _, event in recorder.events] == samples


async def test_inside_unmute_the_default_backend_is_kyutai_at_the_instance(
    unmute_metrics: dict[str, FakeMetric], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNMUTE_TTS_BACKEND", raising=False)
    tts = TextToSpeech("ws://127.0.0.1:9", voice="some-voice")
    await tts.start_up()
    await tts.shutdown()
    assert tts.backend_name == "kyutai"
    backend: Any = tts._tts  # pyright: ignore[reportPrivateUsage]
    assert backend.config.shown_url == "ws://127.0.0.1:9/api/tts_streaming"


async def test_inside_unmute_the_named_backend_wins(
    unmute_metrics: dict[str, FakeMetric], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "fixture")
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    tts = TextToSpeech("ws://127.0.0.1:9")
    await tts.start_up()
    await say(tts, "Hello from unmute.")
    messages = await collect(tts)
    assert tts.backend_name == "fixture" and words(messages)


async def test_a_voice_the_backend_does_not_have_falls_back_to_the_configured_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "orpheus")
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("UNMUTE_TTS_VOICE", "leo")
    tts = TextToSpeech(voice="unmute-prod-website/p329_022.wav")
    await tts.start_up()
    await tts.shutdown()
    backend: Any = tts._tts  # pyright: ignore[reportPrivateUsage]
    assert backend.voice == "leo" and tts.voice == "unmute-prod-website/p329_022.wav"


# -- through the kyutai backend, against the moshi-server stand-in ---------------------


async def test_speaks_through_the_kyutai_server_discovery_picked(
    unmute_metrics: dict[str, FakeMetric], kyutai_server: KyutaiTTSServer
) -> None:
    tts = TextToSpeech(kyutai_server.url, voice="unmute-prod-website/p329_022.wav")
    await asyncio.wait_for(tts.start_up(), 0.5)
    await say(tts, "Hello from unmute.")
    messages = await asyncio.wait_for(collect(tts), 10)
    assert words(messages) == ["Hello", "from", "unmute."]
    assert kyutai_server.connections[0].query["voice"] == "unmute-prod-website/p329_022.wav"
    assert tts.received_samples == tts.received_samples_yielded > 0
    assert await asyncio.to_thread(kyutai_server.wait_all_closed, 2)


async def test_a_kyutai_server_without_free_channels_sends_discovery_elsewhere(
    unmute_metrics: dict[str, FakeMetric], kyutai_server_factory: Any
) -> None:
    server: KyutaiTTSServer = kyutai_server_factory(max_sessions=0)
    tts = TextToSpeech(server.url)
    started = time.monotonic()
    with pytest.raises(MissingServiceAtCapacity):
        await asyncio.wait_for(tts.start_up(), 0.5)
    assert time.monotonic() - started < 0.5
    assert await asyncio.to_thread(server.wait_all_closed, 2)


async def test_a_kyutai_server_slow_to_be_ready_still_speaks_the_reply(
    unmute_metrics: dict[str, FakeMetric], kyutai_server_factory: Any
) -> None:
    server: KyutaiTTSServer = kyutai_server_factory(ready_delay_s=1.5)
    tts = TextToSpeech(server.url)
    await asyncio.wait_for(tts.start_up(), 0.5)
    await say(tts, "kept while starting")
    messages = await asyncio.wait_for(collect(tts), 10)
    assert words(messages) == ["kept", "while", "starting"]
    assert not any(isinstance(m, TTSErrorMessage) for m in messages)
