"""The word hold: without one, audio goes out before the words starting in it are timed;
with a full one, each word comes before the audio it starts in."""

from __future__ import annotations

from collections.abc import Callable

from tests.backends.openai_support import session, speak, words
from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.protocol import SAMPLE_RATE, TTSAudioMessage, TTSTextMessage

Factory = Callable[..., OpenAISpeechServer]
TEXT = "Hello there, this is a test. It has two sentences."
WORDS = TEXT.split()


async def test_without_a_word_hold_audio_goes_out_before_the_first_word_is_timed(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(rate=22050)
    messages = await speak(session(server.url), TEXT)
    first_word = next(i for i, m in enumerate(messages) if isinstance(m, TTSTextMessage))
    audio_before = [m for m in messages[:first_word] if isinstance(m, TTSAudioMessage)]
    assert audio_before, "the first audio waited for the word times"
    assert [w.text for w in words(messages)] == WORDS


async def test_with_a_full_word_hold_each_word_comes_before_the_audio_it_starts_in(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(rate=22050)
    messages = await speak(session(server.url, word_hold_s=0.5), TEXT)
    released_s = 0.0
    late: list[tuple[str, float, float]] = []
    for message in messages:
        if isinstance(message, TTSAudioMessage):
            released_s += len(message.pcm) / SAMPLE_RATE
        elif isinstance(message, TTSTextMessage) and message.start_s < released_s - 1e-6:
            late.append((message.text, message.start_s, released_s))
    assert late == []
