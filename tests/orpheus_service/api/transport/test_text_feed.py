"""TextFeed: client messages as a stream of word deltas, bounded in length."""

from __future__ import annotations

import pytest

from orpheus_service.api.transport.text_feed import TextFeed, TextLimitError


async def read_all(feed: TextFeed) -> list[str]:
    return [delta async for delta in feed]


async def test_each_message_becomes_its_words_kept_apart_from_the_next() -> None:
    feed = TextFeed()
    feed.push_words("Hello   there")
    feed.push_words("friend.")
    feed.end()
    assert await read_all(feed) == ["Hello there ", "friend. "]


async def test_a_message_without_words_adds_nothing() -> None:
    feed = TextFeed()
    feed.push_words("  \n ")
    feed.end()
    assert await read_all(feed) == []


async def test_text_after_the_end_is_ignored() -> None:
    feed = TextFeed()
    feed.end()
    feed.push_words("late")
    feed.end()
    assert feed.ended
    assert await read_all(feed) == []


def test_a_message_longer_than_the_limit_is_refused_naming_the_variable() -> None:
    with pytest.raises(TextLimitError, match="ORPHEUS_MAX_INPUT_CHARS"):
        TextFeed(max_chars=5).push_words("too long")


def test_the_whole_session_is_bound_by_the_limit_too() -> None:
    feed = TextFeed(max_chars=10)
    feed.push_words("one two")
    with pytest.raises(TextLimitError, match="session"):
        feed.push_words("three")
