"""The espeak backend: real offline speech from libespeak-ng, streamed with word timings."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import time
from importlib.machinery import ModuleSpec

import numpy as np
import pytest

from unmute.tts.base import BackendError
from unmute.tts.protocol import (
    SAMPLE_RATE,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSTextMessage,
)

SENTENCE = "The quick brown fox jumps over the lazy dog."
LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 200

needs_espeak = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None or importlib.util.find_spec("soxr") is None,
    reason="the espeak extra is not installed",
)


async def speak(text: str, voice: str | None = None) -> list[TTSAudioMessage | TTSTextMessage]:
    from backends.espeak.session import EspeakTextToSpeech

    tts = EspeakTextToSpeech(voice)
    await tts.start_up()
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    messages: list[TTSAudioMessage | TTSTextMessage] = []
    async for message in tts:
        assert isinstance(message, TTSAudioMessage | TTSTextMessage), message
        messages.append(message)
    return messages


def audio_of(messages: list[TTSAudioMessage | TTSTextMessage]) -> np.ndarray:
    return np.concatenate([m.pcm for m in messages if isinstance(m, TTSAudioMessage)])


def words_of(messages: list[TTSAudioMessage | TTSTextMessage]) -> list[TTSTextMessage]:
    return [m for m in messages if isinstance(m, TTSTextMessage)]


@needs_espeak
async def test_speaks_a_sentence_with_a_plausible_duration() -> None:
    messages = await speak(SENTENCE)
    seconds = len(audio_of(messages)) / SAMPLE_RATE
    words = len(SENTENCE.split())
    assert 0.2 * words <= seconds <= 1.0 * words


@needs_espeak
async def test_audio_is_24khz_float32_mono_within_unit_range_and_not_silent() -> None:
    pcm = audio_of(await speak(SENTENCE))
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert np.abs(pcm).max() <= 1.0
    frames = pcm[: len(pcm) // 480 * 480].reshape(-1, 480)  # 20 ms frames at 24 kHz
    loud = np.sqrt((frames**2).mean(axis=1)) > 0.02
    assert loud.mean() > 0.4  # mostly speech, not silence


@needs_espeak
async def test_words_arrive_in_text_order_with_increasing_times_inside_the_audio() -> None:
    messages = await speak(SENTENCE)
    words = words_of(messages)
    seconds = len(audio_of(messages)) / SAMPLE_RATE
    assert [w.text for w in words] == SENTENCE.split()
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.stop_s <= seconds + 1e-6 for w in words)
    assert all(a.stop_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(words))


@needs_espeak
async def test_word_times_come_from_espeak_word_events() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine
    from unmute.tts.espeak_ng.stream import SynthChunk

    engine = EspeakEngine.get()
    chunks: list[SynthChunk] = []
    await asyncio.to_thread(engine.synthesize, "Hello wonderful world.", "en-us", chunks.append)
    events = [event.sample / engine.sample_rate for chunk in chunks for event in chunk.words]
    words = words_of(await speak("Hello wonderful world."))
    assert len(events) == len(words) == 3
    # espeak varies a few samples from run to run; times must match its events closely.
    assert [w.start_s for w in words] == pytest.approx(events, abs=0.03)
    assert words[1].start_s > 0.1


@needs_espeak
async def test_each_word_is_sent_before_its_audio() -> None:
    messages = await speak(SENTENCE)
    heard = 0.0
    for message in messages:
        if isinstance(message, TTSAudioMessage):
            heard += message.duration_s
        else:
            assert message.start_s >= heard - 1e-6


@needs_espeak
async def test_word_times_continue_across_phrases() -> None:
    messages = await speak("First sentence here. Second sentence follows it.")
    words = words_of(messages)
    assert [w.text for w in words][3] == "Second"
    assert words[3].start_s >= words[2].stop_s - 1e-6
    assert words[3].start_s > 0.5
    assert words[-1].stop_s == pytest.approx(len(audio_of(messages)) / SAMPLE_RATE, abs=1e-3)


@needs_espeak
async def test_audio_streams_in_chunks_of_20_to_80_ms() -> None:
    chunks = [m for m in await speak(SENTENCE) if isinstance(m, TTSAudioMessage)]
    assert len(chunks) > 1
    assert all(0.02 <= c.duration_s <= 0.08 for c in chunks[:-1])


@needs_espeak
async def test_first_audio_reaches_the_consumer_before_the_text_is_all_spoken() -> None:
    from backends.espeak.session import EspeakTextToSpeech

    tts = EspeakTextToSpeech()
    await tts.start_up()
    await tts.send(" ".join(SENTENCE for _ in range(40)))
    await tts.send(TTSClientEosMessage())
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            assert tts.metrics.finished_at is None
            break
    await tts.shutdown()


@needs_espeak
async def test_engine_streams_chunks_while_the_library_is_still_synthesizing() -> None:
    from unmute.tts.espeak_ng.engine import EspeakEngine

    engine = EspeakEngine.get()
    async with engine.stream(LONG_TEXT, "en-us") as stream:
        running_at_first_chunk = None
        chunks = 0
        async for _ in stream:
            if running_at_first_chunk is None:
                running_at_first_chunk = stream.running
            chunks += 1
    assert running_at_first_chunk is True
    assert chunks > 100


@needs_espeak
async def test_cancellation_mid_synthesis_stops_promptly() -> None:
    from unmute.tts.espeak_ng.engine import ENGINE_LOCK, EspeakEngine

    engine = EspeakEngine.get()
    started = time.monotonic()
    async with engine.stream(LONG_TEXT, "en-us") as stream:
        async for _ in stream:
            break  # leaving the block cancels
    elapsed = time.monotonic() - started
    assert stream.result is not None and stream.result.aborted
    full_samples = 180 * engine.sample_rate  # the text lasts about 3 minutes
    assert stream.result.samples < full_samples / 4
    assert elapsed < 1.0
    assert ENGINE_LOCK.acquire(timeout=0)  # the library is free again
    ENGINE_LOCK.release()


@needs_espeak
async def test_unknown_voice_fails_at_start_up_listing_voices() -> None:
    from backends.espeak.session import EspeakTextToSpeech

    tts = EspeakTextToSpeech("klingon")
    with pytest.raises(BackendError) as info:
        await tts.start_up()
    message = str(info.value)
    assert "klingon" in message and "en-us" in message and "fr" in message
    assert tts.state() == "closed"


@needs_espeak
async def test_voice_with_a_variant_speaks() -> None:
    messages = await speak("Hello there.", "en-us+f3")
    assert len(audio_of(messages)) > SAMPLE_RATE // 4


@needs_espeak
def test_voices_are_listed_with_the_default_among_them() -> None:
    from backends.espeak import backend

    voices = backend.voices()
    assert {"en-us", "en", "fr", "de", "es"} <= set(voices)
    assert voices == sorted(voices)
    assert "fo" not in voices  # its dictionary is not shipped in the wheel


@needs_espeak
def test_embedded_default_is_selectable_at_the_lowest_priority() -> None:
    from backends.espeak import backend

    assert backend.unavailable_reason() is None
    assert backend.auto_select_reason() == "embedded default (no service configured)"
    assert backend.auto_priority < 0


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends.espeak import backend

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        if name == "espeakng_loader":
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    reason = backend.unavailable_reason()
    assert reason is not None
    assert "pip install 'unmute-tts[espeak]'" in reason
    assert "espeakng_loader" in reason
    assert backend.auto_select_reason() is None
    assert backend.voices() == []
