"""TextSegmenter under hostile input: bounded segments, linear cost, a free event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from orpheus_service.engine.segmenter import TextSegmenter

HOSTILE_TEXTS = {
    "one long word": "a" * 20_000,
    "long words": " ".join(["b" * 400] * 50),
    "no punctuation": "word " * 4_000,
    "tiny sentences": "A. " * 5_000,
    "dots only": "." * 20_000,
    "whitespace runs": ("x" + " " * 1000) * 50,
    "brackets": "(" * 10_000 + "hello" + ")" * 10_000,
    "mixed": ("Dr. Who? Yes! " + "z" * 300 + " e.g. 3.14 ... ") * 60,
}


def watch_pysbd(segmenter: TextSegmenter) -> list[int]:
    """Record the length of every text given to pysbd by `segmenter`."""
    seen: list[int] = []
    splitter: Any = segmenter._splitter  # pyright: ignore[reportPrivateUsage]
    segment: Callable[[str], Any] = splitter.segment

    def recording(text: str) -> Any:
        seen.append(len(text))
        return segment(text)

    splitter.segment = recording
    return seen


def words_of(segments: list[str]) -> str:
    return "".join("".join(segments).split())


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_no_segment_is_longer_than_the_bound(name: str) -> None:
    segmenter = TextSegmenter(max_chars=150)
    segments = segmenter.push(HOSTILE_TEXTS[name]) + segmenter.finish()
    assert all(len(s) <= 150 for s in segments)


def test_a_long_word_is_cut_at_the_bound_and_nothing_is_lost() -> None:
    segmenter = TextSegmenter(max_chars=150)
    segments = segmenter.push("a" * 20_000 + " end.") + segmenter.finish()
    assert [len(s) for s in segments[:-1]] == [150] * 133
    assert words_of(segments) == "a" * 20_000 + "end."


def test_a_long_word_fed_by_characters_is_cut_at_the_bound() -> None:
    segmenter = TextSegmenter(max_chars=40)
    out: list[str] = []
    for _ in range(1000):
        out += segmenter.push("q")
        assert len(segmenter.pending_text) <= 41
    assert out + segmenter.finish() == ["q" * 40] * 25


def test_a_word_is_not_cut_before_a_combining_mark() -> None:
    word = ("e\u0301" * 30)[:-1] + "x"  # 60 characters, accents on every other one
    segments = TextSegmenter(max_chars=21).push(word + " ")
    assert all(not s.startswith("\u0301") for s in segments)


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_pysbd_never_sees_more_than_a_window(name: str) -> None:
    segmenter = TextSegmenter(max_chars=150)
    seen = watch_pysbd(segmenter)
    segmenter.push(HOSTILE_TEXTS[name])
    segmenter.finish()
    assert max(seen, default=0) <= segmenter.window_chars


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_text_analysed_is_linear_in_the_text(name: str) -> None:
    text = HOSTILE_TEXTS[name]
    segmenter = TextSegmenter(max_chars=150)
    seen = watch_pysbd(segmenter)
    segmenter.push(text)
    segmenter.finish()
    assert sum(seen) <= 3 * len(text)


def test_streamed_words_are_analysed_a_bounded_number_of_times() -> None:
    text = ("word " * 40 + "end. ") * 50
    segmenter = TextSegmenter(max_chars=150)
    seen = watch_pysbd(segmenter)
    for word in text.split(" "):
        segmenter.push(word + " ")
    segmenter.finish()
    assert max(seen) <= 160


def test_a_flood_of_wordless_text_is_dropped_and_the_words_after_it_spoken() -> None:
    segmenter = TextSegmenter(max_chars=150)
    segments = segmenter.push("." * 100_000 + " Hello there.") + segmenter.finish()
    assert segments[-1].endswith("Hello there.")
    assert max(len(s) for s in segments) <= 150


def test_one_push_of_a_long_text_takes_linear_time() -> None:
    sentences = "Hello there, how are you doing today? I hope the weather is nice. " * 1200
    durations: list[float] = []
    for length in (5_000, 80_000):
        started = time.perf_counter()
        segmenter = TextSegmenter(max_chars=150)
        segmenter.push(sentences[:length])
        segmenter.finish()
        durations.append(time.perf_counter() - started)
    assert durations[1] < 40 * durations[0]  # 16x the text; quadratic would be 256x


MEGABYTE_DELTAS = {
    "sentences": "This is one sentence of a story that goes on and on. " * 20_000,
    "one word": "a" * 1_000_000,
    "spaces": ("x" + " " * 100_000) * 10,
    "dots": "." * 1_000_000 + " end.",
}


@pytest.mark.parametrize("name", sorted(MEGABYTE_DELTAS))
async def test_one_huge_delta_never_blocks_the_event_loop_for_long(name: str) -> None:
    async def one_delta() -> AsyncIterator[str]:
        yield MEGABYTE_DELTAS[name]

    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.thread_time()  # CPU time: other processes' share does not count
            await asyncio.sleep(0.001)
            worst = max(worst, time.thread_time() - before)

    ticking = asyncio.create_task(ticker())
    count = 0
    segments = TextSegmenter(max_chars=150).segments(one_delta())
    async with contextlib.aclosing(segments):
        async for _ in segments:
            count += 1
            if count == 300:
                break
    done.set()
    await ticking
    assert count >= 1
    assert worst < 0.1
