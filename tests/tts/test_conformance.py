"""The conformance suite shipped in the library (`unmute.tts.conformance`) passes a
backend that keeps the contract and names what a broken one breaks."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.support.fake_backend import FakeTextToSpeech
from unmute.tts.conformance import CHECKS, check_id, run_checks
from unmute.tts.protocol import TTSAudioMessage, TTSTextMessage


class WordsOutOfOrder(FakeTextToSpeech):
    """Speaks, but reports its words backwards."""

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        messages = [message async for message in super()._synthesize(text)]
        words = [m for m in messages if isinstance(m, TTSTextMessage)]
        for message in messages:
            if isinstance(message, TTSAudioMessage):
                yield message
        for word in reversed(words):
            yield word


def test_every_check_has_a_distinct_name() -> None:
    names = [check_id(check) for check in CHECKS]
    assert len(set(names)) == len(names) == 9


async def test_a_backend_keeping_the_contract_passes_every_check() -> None:
    assert await run_checks(lambda: FakeTextToSpeech(word_s=0.2)) == {}


async def test_a_backend_breaking_the_contract_fails_the_checks_it_breaks() -> None:
    failures = await run_checks(lambda: WordsOutOfOrder(word_s=0.2))
    assert set(failures) == {"words_arrive_in_order_inside_the_audio"}
    assert "expected ['hello', 'from', 'unmute']" in str(failures.popitem()[1])
