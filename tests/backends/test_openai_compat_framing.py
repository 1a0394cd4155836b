"""The bodies a speech answer comes in: SSE events give the audio a plain body gives, and
Kokoro's captioned speech gives the server's exact word times."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.backends.openai_support import audio, session, speak, words
from tests.support.openai_server import WORD_S, OpenAISpeechServer

Factory = Callable[..., OpenAISpeechServer]
TEXT = "Hello there, this is a test. It has two sentences."
WORDS = TEXT.split()


async def test_sse_events_give_the_same_audio_as_a_plain_body(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory()
    plain = audio(await speak(session(server.url), TEXT))
    sse = audio(await speak(session(server.url, stream_format="sse"), TEXT))
    assert server.requests[-1].body["stream_format"] == "sse"
    assert len(sse) == len(plain)
    assert sse == pytest.approx(plain, abs=1e-6)


async def test_captioned_speech_gives_the_servers_exact_word_times(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory()
    messages = await speak(session(server.url, word_times="captioned"), TEXT)
    assert {r.path for r in server.requests} == {"/dev/captioned_speech"}
    assert server.requests[0].body["return_timestamps"] is True
    starts = [w.start_s for w in words(messages)]
    assert [w.text for w in words(messages)] == WORDS
    assert starts == pytest.approx([i * WORD_S for i in range(len(WORDS))], abs=1e-6)
