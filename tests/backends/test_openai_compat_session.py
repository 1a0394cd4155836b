"""The `openai` backend's session against stand-in servers: formats, rates, audio chunks,
one request per sentence with the next one ahead, and the settings each request carries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backends.openai_compat.session import CHUNK_SAMPLES
from tests.backends.openai_support import audio_s, errors, session, speak, words
from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.protocol import SAMPLE_RATE, TTSAudioMessage

Factory = Callable[..., OpenAISpeechServer]
TEXT = "Hello there, this is a test. It has two sentences."
WORDS = TEXT.split()
ONE_SAMPLE_PER_RESAMPLED_BLOCK = 1e-3


def _expected_s(server: OpenAISpeechServer, text: str = TEXT) -> float:
    """Audio the stand-in sends for `text`, as whole samples at its rate."""
    return sum(len(server.tone(r.body["input"].split())) for r in server.requests) / server.rate


@pytest.mark.parametrize(
    "options",
    [
        {"rate": 24000},
        {"rate": 22050},
        {"rate": 22050, "wav": True},
        {"rate": 22050, "wav": True, "streamed_wav": False},
    ],
    ids=["pcm-24k", "pcm-22k-content-type", "wav-22k-streamed", "wav-22k-sized"],
)
async def test_the_whole_text_is_spoken_at_24_khz(
    openai_server_factory: Factory, options: dict[str, object]
) -> None:
    server = openai_server_factory(**options)
    messages = await speak(session(server.url), TEXT)
    assert errors(messages) == []
    assert audio_s(messages) == pytest.approx(_expected_s(server), abs=0.01)
    assert [w.text for w in words(messages)] == WORDS


async def test_the_sample_rate_setting_is_used_when_the_server_states_none(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(rate=22050, announce_rate=False)
    messages = await speak(session(server.url, sample_rate=22050), TEXT)
    assert audio_s(messages) == pytest.approx(_expected_s(server), abs=0.01)


async def test_audio_leaves_in_chunks_of_at_most_80_ms(openai_server_factory: Factory) -> None:
    server = openai_server_factory(rate=22050, packet_s=0.25)
    messages = await speak(session(server.url), TEXT)
    sizes = [len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)]
    assert max(sizes) == CHUNK_SAMPLES == SAMPLE_RATE * 0.08


async def test_audio_goes_out_as_it_arrives_not_once_80_ms_are_in(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(realtime=1.0)  # 20 ms packets, 20 ms apart
    tts = session(server.url)
    await tts.start_up()
    await tts.send("Hello.")
    first = None
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            first = message
            break
    await tts.shutdown()
    assert first is not None
    assert len(first.pcm) < CHUNK_SAMPLES


async def test_each_sentence_is_one_request_and_the_first_ends_at_its_first_clause(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory()
    await speak(session(server.url), TEXT)
    # requests in flight together may arrive in either order
    assert sorted(r.body["input"] for r in server.requests) == sorted(
        ["Hello there,", "this is a test.", "It has two sentences."]
    )


async def test_one_sentence_is_requested_ahead_of_the_one_playing(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(realtime=2.0)
    text = "One. Two two. Three three three. Four four."
    messages = await speak(session(server.url), text)
    assert errors(messages) == []
    assert len(server.requests) == 4
    assert server.max_concurrent == 2


async def test_the_request_carries_the_settings(openai_server_factory: Factory) -> None:
    server = openai_server_factory()
    tts = session(
        server.url,
        model="gpt-4o-mini-tts",
        voice="coral",
        instructions="Speak warmly.",
        speed=1.25,
        api_key="sk-test-key",
    )
    await speak(tts, "Hi.")
    request = server.requests[0]
    assert request.path == "/v1/audio/speech"
    assert request.body == {
        "model": "gpt-4o-mini-tts",
        "input": "Hi.",
        "voice": "coral",
        "response_format": "pcm",
        "instructions": "Speak warmly.",
        "speed": 1.25,
    }
    assert request.headers["authorization"] == "Bearer sk-test-key"


async def test_a_voice_asked_for_replaces_the_default(openai_server_factory: Factory) -> None:
    server = openai_server_factory()
    tts = session(server.url)
    tts.voice = "af_heart+af_sky"
    await speak(tts, "Hi.")
    assert server.requests[0].body["voice"] == "af_heart+af_sky"
