"""TextSegmenter: text deltas -> segments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orpheus_service.engine.segmenter import TextSegmenter


def by_words(text: str, segmenter: TextSegmenter) -> list[str]:
    """Feed `text` word by word, as an LLM writes, and finish."""
    out: list[str] = []
    for index, word in enumerate(text.split(" ")):
        out += segmenter.push(word if index == 0 else " " + word)
    return out + segmenter.finish()


def by_chars(text: str, segmenter: TextSegmenter) -> list[str]:
    out: list[str] = []
    for char in text:
        out += segmenter.push(char)
    return out + segmenter.finish()


def test_sentence_end_ends_a_segment() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("Hello there. How") == ["Hello there."]
    assert segmenter.finish() == ["How"]


def test_abbreviation_does_not_end_a_segment() -> None:
    text = "I saw Dr. Smith at home. Then I left."
    assert by_words(text, TextSegmenter()) == ["I saw Dr. Smith at home.", "Then I left."]


def test_last_sentence_waits_for_more_text_or_finish() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("All done. ") == []
    assert segmenter.finish() == ["All done."]


def test_length_bound_splits_at_a_word_boundary() -> None:
    words = [f"w{i}" * (1 + i % 4) for i in range(80)]
    text = " ".join(words) + "."
    segments = by_words(text, TextSegmenter(max_chars=40))
    assert all(len(s) <= 40 for s in segments)
    assert " ".join(segments).split() == text.split()


def test_length_bound_never_cuts_inside_a_word_fed_by_characters() -> None:
    text = "internationalization considerations notwithstanding everything " * 6
    segments = by_chars(text, TextSegmenter(max_chars=30))
    assert " ".join(segments).split() == text.split()


def test_length_bound_prefers_a_clause_mark() -> None:
    text = "one two three four five six, seven eight nine ten eleven twelve"
    segments = by_words(text, TextSegmenter(max_chars=40))
    assert segments[0] == "one two three four five six,"


def test_a_word_longer_than_the_bound_is_cut_at_the_bound() -> None:
    long_word = "x" * 50
    segments = by_words(f"{long_word} tail", TextSegmenter(max_chars=20))
    assert segments == ["x" * 20, "x" * 20, "x" * 10 + " tail"]


def test_emotion_tags_stay_intact() -> None:
    text = "ha " * 10 + "<laugh> " + "ho " * 10
    segments = by_chars(text, TextSegmenter(max_chars=31))
    assert "<laugh>" in " ".join(segments).split()


def test_first_segment_is_cut_after_n_words() -> None:
    text = "one two three four five six seven eight nine ten"
    segments = by_words(text, TextSegmenter(first_segment_max_words=4))
    assert segments == ["one two three four", "five six seven eight nine ten"]


def test_first_segment_is_cut_at_a_clause_mark() -> None:
    text = "So I was thinking, about going to the store today"
    segments = by_words(text, TextSegmenter(first_segment_max_words=8))
    assert segments[0] == "So I was thinking,"


def test_only_the_first_segment_is_short() -> None:
    text = " ".join(["word"] * 30)
    segments = by_words(text, TextSegmenter(first_segment_max_words=3, max_chars=150))
    assert segments == ["word word word", " ".join(["word"] * 27)]


def test_first_segment_option_is_off_by_default() -> None:
    text = "one two three four five six seven eight nine ten"
    assert by_words(text, TextSegmenter()) == [text]


def test_total_input_length_is_not_capped() -> None:
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(f"{w}." if i % 12 == 11 else w for i, w in enumerate(words))
    segments = by_words(text, TextSegmenter())
    assert [w.rstrip(".") for w in " ".join(segments).split()] == words


def test_wordless_piece_joins_the_previous_segment() -> None:
    assert by_words("Really? ... Yes.", TextSegmenter()) in (
        ["Really? ...", "Yes."],
        ["Really?", "... Yes."],
    )


def test_whitespace_is_normalized() -> None:
    assert TextSegmenter().push("Hi  there.\n\nNext") == ["Hi there."]


async def test_async_helper_yields_segments_of_a_delta_stream() -> None:
    async def deltas() -> AsyncIterator[str]:
        for word in ["Hello", " world.", " Bye", " now."]:
            yield word

    segments = [s async for s in TextSegmenter().segments(deltas())]
    assert segments == ["Hello world.", "Bye now."]


def test_idle_flush_ends_a_finished_sentence() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("Tell me a long story. ") == []
    assert segmenter.flush_sentence() == ["Tell me a long story."]
    assert segmenter.pending_text == ""


def test_idle_flush_keeps_a_title_abbreviation() -> None:
    segmenter = TextSegmenter()
    segmenter.push("I went to see Dr.")
    assert segmenter.flush_sentence() == []


def test_idle_flush_keeps_an_unfinished_sentence() -> None:
    segmenter = TextSegmenter()
    segmenter.push("I went to see")
    assert segmenter.flush_sentence() == []


async def test_async_helper_flushes_a_sentence_when_the_input_goes_quiet() -> None:
    feed: asyncio.Queue[str | None] = asyncio.Queue()

    async def deltas() -> AsyncIterator[str]:
        while (item := await feed.get()) is not None:
            yield item

    segments = TextSegmenter().segments(deltas(), idle_flush_s=0.05)
    feed.put_nowait("Tell me a long story.")
    assert await asyncio.wait_for(anext(segments), 2) == "Tell me a long story."
    feed.put_nowait(" The end.")
    feed.put_nowait(None)
    assert [s async for s in segments] == ["The end."]


async def test_closing_the_async_helper_closes_the_delta_stream() -> None:
    closed = asyncio.Event()

    async def deltas() -> AsyncIterator[str]:
        try:
            yield "First one. "
            await asyncio.sleep(3600)
            yield "never"
        finally:
            closed.set()

    segments = TextSegmenter().segments(deltas(), idle_flush_s=0.01)
    assert await anext(segments) == "First one."
    await segments.aclose()
    assert closed.is_set()


def test_push_after_finish_raises() -> None:
    segmenter = TextSegmenter()
    segmenter.finish()
    with pytest.raises(RuntimeError):
        segmenter.push("more")
