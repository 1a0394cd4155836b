"""Streamed words grouped into phrases (unmute.tts.phrasing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable

import numpy as np

from unmute.tts.base import RetryPolicy
from unmute.tts.phrasing import Phrase, PhrasedTextToSpeech, Phrasing, phrases, word_ending
from unmute.tts.protocol import TTSAudioMessage, TTSClientEosMessage, TTSTextMessage


async def _stream(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _grouped(items: Iterable[str], phrasing: Phrasing) -> list[tuple[str, ...]]:
    return [phrase.words async for phrase in phrases(_stream(items), phrasing)]


async def test_phrases_end_at_sentence_punctuation_but_not_abbreviations() -> None:
    words = ["Dr.", "Smith", "is", "here.", "Are", "you?", "Yes"]
    grouped = await _grouped(words, Phrasing())
    assert grouped == [("Dr.", "Smith", "is", "here."), ("Are", "you?"), ("Yes",)]


async def test_phrase_is_spoken_when_no_word_arrives_for_a_while() -> None:
    gate = asyncio.Event()

    async def words() -> AsyncIterator[str]:
        yield "Hello"
        yield "there"
        await gate.wait()
        yield "friend."

    grouped = phrases(words(), Phrasing(idle_flush_s=0.05))
    first = await asyncio.wait_for(anext(grouped), 1)
    assert first.words == ("Hello", "there") and not first.end_pause
    gate.set()
    second = await asyncio.wait_for(anext(grouped), 1)
    assert second.words == ("friend.",) and second.end_pause
    await grouped.aclose()


async def test_first_phrase_ends_at_its_first_clause_boundary() -> None:
    phrasing = Phrasing(first_clause_min_words=1, clause_min_words=100)
    words = ["Well,", "I", "think", "so,", "yes,", "really."]
    assert await _grouped(words, phrasing) == [("Well,",), ("I", "think", "so,", "yes,", "really.")]


async def test_first_phrase_is_cut_after_its_word_limit() -> None:
    phrasing = Phrasing(first_max_words=3, max_words=30)
    words = ["one", "two", "three", "four", "five", "six", "seven"]
    grouped = await _grouped(words, phrasing)
    assert grouped == [("one", "two", "three"), ("four", "five", "six", "seven")]


async def test_multi_word_texts_are_split_into_words() -> None:
    assert await _grouped(["Hi there.", "Bye"], Phrasing()) == [("Hi", "there."), ("Bye",)]


def test_word_ending_reads_closing_quotes_and_initials() -> None:
    assert word_ending('done."') == "sentence"
    assert word_ending("J.") == ""
    assert word_ending("first;") == "clause"
    assert word_ending("plain") == ""


class _PhraseLengths(PhrasedTextToSpeech):
    """Speaks each phrase as one word message naming it, then 10 ms of silence."""

    backend_name = "phrase-lengths"

    def __init__(self) -> None:
        super().__init__(retry=RetryPolicy(budget_s=1.0))
        self.phrasing = Phrasing(idle_flush_s=None, first_clause_min_words=1)

    async def _speak(
        self, phrase: Phrase
    ) -> AsyncGenerator[TTSAudioMessage | TTSTextMessage, None]:
        yield TTSTextMessage(text=phrase.text, start_s=0.0, stop_s=0.0)
        yield TTSAudioMessage(pcm=np.zeros(240, dtype=np.float32))


async def test_a_phrased_backend_speaks_each_phrase_in_order() -> None:
    tts = _PhraseLengths()
    await tts.start_up()
    for word in ["Well,", "this", "is", "fine.", "Bye"]:
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    spoken = [m.text async for m in tts if isinstance(m, TTSTextMessage)]
    assert spoken == ["Well,", "this is fine.", "Bye"]
