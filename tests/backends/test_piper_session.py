"""The piper backend: a neural voice streamed from words, with word times from the model's
own phoneme alignments, and an interruption that stops it at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.piper_session import audio_of, needs_piper, speak, speak_with, words_of
from unmute.tts.protocol import SAMPLE_RATE, OutputMessage, TTSAudioMessage, TTSClientEosMessage
from unmute.tts.settings import reset_settings

pytestmark = needs_piper

SENTENCE = "Hello there, my friend. How are you doing today?"
PIPER_RATE = 22050


class RecordedSynthesis:
    """Every `PiperVoice.synthesize` call of the bundled voice: its text and sentences."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordedSynthesis:
    from backends.piper.settings import load_piper_settings
    from backends.piper.voices import find_voice, load_voice

    settings = load_piper_settings()
    voice = load_voice(find_voice(settings.voice, settings)).voice
    original = voice.synthesize
    record = RecordedSynthesis()

    def synthesize(text: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        chunks = list(original(text, *args, **kwargs))
        record.calls.append((text, chunks))
        return iter(chunks)

    monkeypatch.setattr(voice, "synthesize", synthesize)
    return record


def espeak_word_starts(chunks: Iterable[Any]) -> list[int]:
    """Piper's own word starts in a synthesis (native samples from its start): the
    cumulative sample count at the first phoneme after each space or sentence start."""
    starts: list[int] = []
    offset = 0
    for chunk in chunks:
        position = offset
        previous = "^"
        for alignment in chunk.phoneme_alignments:
            if previous in ("^", " ") and alignment.phoneme not in (" ", "$", "^"):
                starts.append(position)
            previous = alignment.phoneme
            position += alignment.num_samples
        offset += len(chunk.audio_float_array)
    return starts


def expected_starts_s(calls: list[tuple[str, list[Any]]]) -> list[float]:
    """Each phrase's word starts moved onto the session timeline (24 kHz)."""
    expected: list[float] = []
    offset_s = 0.0
    for _, chunks in calls:
        expected += [offset_s + s / PIPER_RATE for s in espeak_word_starts(chunks)]
        offset_s += sum(len(c.audio_float_array) for c in chunks) / PIPER_RATE
    return expected


async def test_speaks_a_sentence_with_a_plausible_duration() -> None:
    seconds = len(audio_of(await speak(SENTENCE))) / SAMPLE_RATE
    words = len(SENTENCE.split())
    assert 0.2 * words <= seconds <= 0.8 * words


async def test_audio_is_24khz_float32_in_range_and_not_silent() -> None:
    audio = audio_of(await speak(SENTENCE))
    assert audio.dtype == np.float32
    assert np.abs(audio).max() <= 1.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.02


async def test_one_word_message_per_word_sent_with_its_punctuation() -> None:
    words = words_of(await speak(SENTENCE))
    assert [w.text for w in words] == SENTENCE.split()


async def test_word_starts_are_piper_alignments_on_the_session_timeline(
    recorded: RecordedSynthesis,
) -> None:
    words = words_of(await speak(SENTENCE))
    assert len(recorded.calls) > 1  # the text was spoken as several phrases
    expected = expected_starts_s(recorded.calls)
    assert [w.start_s for w in words] == pytest.approx(expected, abs=0.002)


async def test_a_number_read_as_several_words_keeps_its_word_timed_at_the_first(
    recorded: RecordedSynthesis,
) -> None:
    words = words_of(await speak("We met in 1969 at noon."))
    spoken = expected_starts_s(recorded.calls)
    assert len(spoken) > 6  # espeak read the year as several words
    assert [w.text for w in words] == ["We", "met", "in", "1969", "at", "noon."]
    assert words[3].start_s == pytest.approx(spoken[3], abs=0.002)
    assert words[4].start_s == pytest.approx(spoken[-2], abs=0.002)
    assert words[3].stop_s <= words[4].start_s


async def test_each_word_is_sent_before_the_audio_it_starts_in() -> None:
    messages = await speak(SENTENCE)
    heard = 0
    for index, message in enumerate(messages):
        if isinstance(message, TTSAudioMessage):
            heard += len(message.pcm)
            later = words_of(messages[index + 1 :])
            assert all(w.start_s * SAMPLE_RATE >= heard - 1 for w in later)


async def test_word_times_grow_and_lie_inside_the_audio() -> None:
    messages = await speak(SENTENCE)
    seconds = len(audio_of(messages)) / SAMPLE_RATE
    words = words_of(messages)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.stop_s <= seconds + 1e-6 for w in words)


async def test_audio_streams_in_blocks_of_at_most_80_ms() -> None:
    blocks = [m for m in await speak(SENTENCE) if isinstance(m, TTSAudioMessage)]
    assert len(blocks) > 10
    assert all(0 < b.duration_s <= 0.08 for b in blocks)


async def test_the_first_phrase_ends_at_the_first_clause_boundary(
    recorded: RecordedSynthesis,
) -> None:
    await speak(SENTENCE)
    assert recorded.calls[0][0] == "Hello there,"


async def test_the_first_phrase_does_not_wait_for_a_sentence_without_punctuation(
    recorded: RecordedSynthesis,
) -> None:
    await speak("one two three four five six seven eight nine ten eleven twelve.")
    assert len(recorded.calls[0][0].split()) <= 4


async def test_speed_two_speaks_much_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    normal = len(audio_of(await speak(SENTENCE)))
    monkeypatch.setenv("PIPER_SPEED", "2")
    reset_settings()
    fast = len(audio_of(await speak(SENTENCE)))
    assert 0.4 < fast / normal < 0.75  # pauses and the model's noise scale less


async def test_shutdown_mid_phrase_returns_within_50_ms_and_drops_the_worker_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backends.piper import render as render_module
    from backends.piper import session as session_module
    from backends.piper.session import PiperTextToSpeech

    rendering = threading.Event()
    rendered = threading.Event()

    def render(*args: Any) -> Any:
        rendering.set()
        try:
            return render_module.render(*args)
        finally:
            rendered.set()

    monkeypatch.setattr(session_module, "render", render)
    tts = PiperTextToSpeech()
    await tts.start_up()
    await tts.send("A long sentence that takes the voice a good while to speak, " * 3)
    await tts.send(TTSClientEosMessage())
    await asyncio.to_thread(rendering.wait, 10)
    started = time.perf_counter()
    await tts.shutdown()
    elapsed = time.perf_counter() - started
    await asyncio.to_thread(rendered.wait, 30)  # the worker finished its sentence
    after: list[OutputMessage] = [message async for message in tts]
    assert elapsed < 0.05
    assert after == []
    assert tts.metrics.audio_s == 0.0


async def test_a_voice_without_alignments_is_timed_by_the_shared_estimator() -> None:
    from backends.piper.session import PiperTextToSpeech

    tts = PiperTextToSpeech(alignments=False)
    messages = await speak_with(tts, SENTENCE.split())
    seconds = len(audio_of(messages)) / SAMPLE_RATE
    words = words_of(messages)
    assert [w.text for w in words] == SENTENCE.split()
    assert all(0 <= w.start_s <= w.stop_s <= seconds + 1e-6 for w in words)
