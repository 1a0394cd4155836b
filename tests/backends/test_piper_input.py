"""Bad input to the piper backend: a clear error or silence with the words still timed,
never a hang or a crash."""

from __future__ import annotations

import numpy as np

from tests.support.piper_session import audio_of, needs_piper, speak, words_of
from unmute.tts.protocol import SAMPLE_RATE, OutputMessage, TTSAudioMessage, TTSClientEosMessage

pytestmark = needs_piper


def assert_every_word_timed(text: str, messages: list[OutputMessage]) -> None:
    seconds = len(audio_of(messages)) / SAMPLE_RATE
    words = words_of(messages)
    assert [w.text for w in words] == text.split()
    assert all(0 <= w.start_s <= w.stop_s <= seconds + 1e-6 for w in words)
    assert [m for m in messages if m.type == "Error"] == []


async def test_empty_text_ends_with_no_message() -> None:
    assert await speak("") == []


async def test_only_punctuation_is_a_short_silence_with_its_words_timed() -> None:
    text = "... ? ,"
    messages = await speak(text)
    audio = audio_of(messages)
    assert 0 < len(audio) <= 0.5 * SAMPLE_RATE
    assert not np.any(audio)
    assert_every_word_timed(text, messages)


async def test_only_emoji_is_spoken_with_its_words_timed() -> None:
    text = "🙂 🎉"
    messages = await speak(text)
    assert np.abs(audio_of(messages)).max() > 0.1  # espeak reads emoji names
    assert_every_word_timed(text, messages)


async def test_a_script_the_voice_cannot_read_still_has_its_words_timed() -> None:
    text = "你好 世界 Привет мир"
    messages = await speak(text)
    assert len(audio_of(messages)) > 0
    assert_every_word_timed(text, messages)


async def test_a_100000_character_word_is_silence_timed_without_a_hang() -> None:
    text = "x" * 100_000
    messages = await speak(text)
    assert not np.any(audio_of(messages))
    assert_every_word_timed(text, messages)


async def test_100000_characters_of_text_stream_from_the_first_phrase() -> None:
    from backends.piper.session import PiperTextToSpeech

    text = "Tell me more about it. " * 4348  # 100,004 characters
    tts = PiperTextToSpeech()
    await tts.start_up()
    await tts.send(text)
    await tts.send(TTSClientEosMessage())
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            break
    await tts.shutdown()
    spoken = [word.text for word in tts.spoken_words]
    assert spoken == text.split()[: len(spoken)]
    assert 0 < tts.metrics.audio_s < 10  # only the first phrases were rendered


async def test_text_mixing_unspoken_and_spoken_words_keeps_order() -> None:
    text = "Well — " + "y" * 200 + " ... yes!"
    assert_every_word_timed(text, await speak(text))
