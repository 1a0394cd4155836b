"""The official `openai` client's audio.speech calls work against the service unchanged."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import openai
import pytest

from tests.support.service_support import FakeEngine, ServerThread, start_fake_service

KEY = "sk-openai-client-test"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(chunks_per_word=2), api_key=KEY)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.http}/v1", api_key=KEY, max_retries=0)


def samples(data: bytes) -> int:
    return sum(frame.samples for frame in av.open(io.BytesIO(data), mode="r").decode(audio=0))


def test_speech_create_returns_the_audio(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="orpheus", voice="tara", input="Hello big world", response_format="wav"
    )
    assert samples(response.read()) == 3 * 2 * 2048


def test_speech_with_streaming_response_yields_chunks(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="leo", input="Hello big world", response_format="pcm"
    ) as response:
        chunks = list(response.iter_bytes())
    assert len(b"".join(chunks)) == 2 * 3 * 2 * 2048


def test_speech_create_with_speed_and_mp3(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="orpheus", voice="tara", input="Hello big world", speed=2.0
    )
    assert samples(response.read()) == pytest.approx(3 * 2 * 2048 / 2, rel=0.25)


def test_wrong_key_raises_authentication_error(server: ServerThread) -> None:
    bad = openai.OpenAI(base_url=f"{server.http}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.audio.speech.create(model="orpheus", voice="tara", input="Hi")


def test_unknown_voice_raises_bad_request_with_the_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown Orpheus voice"):
        client.audio.speech.create(model="orpheus", voice="nobody", input="Hi")


async def test_async_client_streams_too(server: ServerThread) -> None:
    client = openai.AsyncOpenAI(base_url=f"{server.http}/v1", api_key=KEY, max_retries=0)
    async with client.audio.speech.with_streaming_response.create(
        model="orpheus", voice="tara", input="Hello", response_format="pcm"
    ) as response:
        data = b"".join([chunk async for chunk in response.iter_bytes()])
    assert len(data) == 2 * 2 * 2048
