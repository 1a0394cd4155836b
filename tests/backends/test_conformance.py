"""The contract every registered backend keeps, run against each one available offline.

A backend joins by registering its entry point. One that needs a local server to be
usable names a pytest fixture in `BACKEND_ENVIRONMENTS` (tests/conftest.py) that starts
it and sets the environment.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.support.sessions import speak
from unmute.tts import registry
from unmute.tts.protocol import (
    SAMPLE_RATE,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)

TEXT = "Hello from unmute."
BACKEND_ENVIRONMENTS = {"orpheus": "orpheus_service_env"}


def _backend_names() -> list[str]:
    return sorted(registry.list_backends())


@pytest.fixture(params=_backend_names())
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    if name in BACKEND_ENVIRONMENTS:
        request.getfixturevalue(BACKEND_ENVIRONMENTS[name])
    registry.refresh()
    reason = registry.get_backend(name).unavailable_reason()
    if reason is not None:
        pytest.skip(f"{name} is not usable offline here: {reason}")
    return name


def make(backend: str) -> TextToSpeech:
    return registry.create_tts(backend)


async def test_start_up_connects(backend: str) -> None:
    tts = make(backend)
    assert tts.state() == "not_created"
    await tts.start_up()
    assert tts.state() == "connected"
    await tts.shutdown()


async def test_speaks_text_sent_word_by_word(backend: str) -> None:
    messages = await speak(make(backend), TEXT)
    errors = [m for m in messages if isinstance(m, TTSErrorMessage)]
    assert errors == []
    audio = [m for m in messages if isinstance(m, TTSAudioMessage)]
    assert audio and all(len(m.pcm) > 0 for m in audio)
    assert all(np.asarray(m.pcm).dtype == np.float32 for m in audio)


async def test_audio_length_is_consistent_with_the_text(backend: str) -> None:
    messages = await speak(make(backend), TEXT)
    seconds = sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)) / SAMPLE_RATE
    words = len(TEXT.split())
    assert 0.1 * words <= seconds <= 2.0 * words + 1.0


async def test_words_arrive_in_order_with_non_decreasing_times_inside_the_audio(
    backend: str,
) -> None:
    messages = await speak(make(backend), TEXT)
    words = [m for m in messages if isinstance(m, TTSTextMessage)]
    seconds = sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)) / SAMPLE_RATE
    assert [w.text.strip(".,!?").lower() for w in words] == [
        w.strip(".,!?").lower() for w in TEXT.split()
    ]
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.stop_s <= seconds + 1e-3 for w in words)


async def test_interruption_mid_stream_stops_the_stream(backend: str) -> None:
    tts = make(backend)
    await tts.start_up()
    for word in TEXT.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    received = 0
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            received += 1
            await asyncio.wait_for(tts.shutdown(), 1)
    assert received == 1
    assert tts.state() == "closed"


async def test_shutdown_twice_is_harmless(backend: str) -> None:
    tts = make(backend)
    await tts.start_up()
    await tts.shutdown()
    await tts.shutdown()
    assert tts.state() == "closed"


async def test_send_after_shutdown_is_ignored(backend: str) -> None:
    tts = make(backend)
    await tts.start_up()
    await tts.shutdown()
    await tts.send("late")
    await tts.send(TTSClientEosMessage())
    assert tts.state() == "closed"


async def test_empty_text_ends_cleanly_without_audio(backend: str) -> None:
    messages = await speak(make(backend), "")
    assert messages == []


async def test_no_task_is_left_behind(backend: str) -> None:
    before = set(asyncio.all_tasks())
    await speak(make(backend), TEXT)
    await asyncio.sleep(0)
    assert set(asyncio.all_tasks()) - before == set()
