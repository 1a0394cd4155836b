"""The `openai` backend against our own Orpheus service's `/v1/audio/speech` (a real
server: the service on a stand-in llama-server with a tiny GGUF), in every response
format the service has and both stream formats."""

from __future__ import annotations

import pytest

from tests.backends.openai_support import audio_s, errors, session, speak, words
from tests.support.orpheus_fixtures import OrpheusService

TEXT = "Hello there, how are you today?"
FORMATS = ["pcm", "wav", "mp3", "opus", "flac", "aac"]


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
@pytest.mark.parametrize("response_format", FORMATS)
async def test_the_orpheus_service_speaks_through_the_openai_backend(
    orpheus_service: OrpheusService, response_format: str, stream_format: str
) -> None:
    tts = session(
        orpheus_service.url,
        model="orpheus",
        voice="tara",
        response_format=response_format,
        stream_format=stream_format,
    )
    messages = await speak(tts, TEXT)
    assert errors(messages) == []
    assert [w.text for w in words(messages)] == TEXT.split()
    assert audio_s(messages) >= 0.1
    assert tts.requests == 2  # the first clause, then the rest of the sentence


async def test_openai_voice_names_reach_the_orpheus_service(
    orpheus_service: OrpheusService,
) -> None:
    messages = await speak(session(orpheus_service.url, voice="alloy"), "Hi.")
    assert errors(messages) == []
