"""One chain member's attempt: the words sent so far, replayed into a fresh member."""

from __future__ import annotations

import asyncio

from tests.support.waiting import wait_until
from unmute.tts.chain_attempt import MemberFailed, WordLog
from unmute.tts.protocol import TTSClientEosMessage, TTSClientTextMessage


class Collector:
    """Takes what a WordLog replays."""

    def __init__(self) -> None:
        self.sent: list[str | None] = []

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        if isinstance(message, TTSClientEosMessage):
            self.sent.append(None)
        else:
            self.sent.append(message if isinstance(message, str) else message.text)


def test_a_word_log_knows_its_first_word_and_its_end() -> None:
    log = WordLog()
    assert not log.has_words and not log.ended
    log.add("one")
    assert log.has_words and log.first_at is not None and not log.ended
    log.add(None)
    assert log.ended


async def test_replay_sends_the_words_so_far_then_each_new_one_then_the_end() -> None:
    log = WordLog()
    log.add("one")
    log.add("two")
    collector = Collector()
    replaying = asyncio.create_task(log.replay_into(collector))  # pyright: ignore[reportArgumentType]
    await wait_until(lambda: len(collector.sent) == 2)
    assert collector.sent == ["one", "two"] and not replaying.done()  # waits for a new word
    log.add("three")
    log.add(None)
    await asyncio.wait_for(replaying, 1)
    assert collector.sent == ["one", "two", "three", None]


def test_a_member_failure_keeps_its_metric_label_apart_from_the_detail() -> None:
    failure = MemberFailed("start-up", "connection refused")
    assert (failure.reason, failure.detail) == ("start-up", "connection refused")
    assert str(failure) == "start-up: connection refused"
