"""Streamed words grouped into phrases a backend synthesizes in one piece.

unmute's handler sends one word at a time as the LLM writes. A backend that
synthesizes whole pieces of text (espeak, piper, an HTTP speech server) groups them
here: a phrase ends at a sentence end, at a clause boundary once it is long enough,
when it grows too long, when no word arrives for a short while, or at end of stream.
The first phrase of a stream may end sooner (any clause boundary, fewer words), so the
first audio does not wait for a whole sentence. `PhrasedTextToSpeech` is the base of a
backend that speaks one phrase at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Final, Literal

from unmute.tts.base import BaseTextToSpeech
from unmute.tts.protocol import TTSAudioMessage, TTSTextMessage

_SENTENCE_END: Final = frozenset(".!?…。！？")
_CLAUSE_END: Final = frozenset(",;:—，、；：")
_CLOSERS: Final = "\"')]}»”’"
_ABBREVIATIONS: Final = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "prof", "e.g", "i.e", "etc"}
)


@dataclass(frozen=True)
class Phrasing:
    """When the words received so far are spoken as one phrase."""

    idle_flush_s: float | None = 0.2
    """Speak the pending words when no new word arrives for this long (None: never)."""
    clause_min_words: int = 4
    """Speak at a comma, semicolon, colon... once the phrase has this many words."""
    max_words: int = 30
    """Speak a phrase that grew this long without punctuation."""
    first_clause_min_words: int | None = None
    """`clause_min_words` for the first phrase of a stream (None: the same)."""
    first_max_words: int | None = None
    """`max_words` for the first phrase of a stream (None: the same)."""

    def limits(self, first: bool) -> tuple[int, int]:
        """(clause_min_words, max_words) for the first or a later phrase."""
        if not first:
            return self.clause_min_words, self.max_words
        clause = self.first_clause_min_words
        longest = self.first_max_words
        return (
            self.clause_min_words if clause is None else clause,
            self.max_words if longest is None else longest,
        )


@dataclass(frozen=True)
class Phrase:
    """Words to synthesize together."""

    words: tuple[str, ...]
    end_pause: bool
    """Whether it ends with punctuation, so the pause after it is kept."""

    @property
    def text(self) -> str:
        """The words joined by spaces."""
        return " ".join(self.words)


def word_ending(word: str) -> Literal["sentence", "clause", ""]:
    """'sentence', 'clause' or '' for a word's final punctuation (abbreviations and
    single initials such as "Dr." or "J." end nothing)."""
    stripped = word.rstrip(_CLOSERS)
    if not stripped:
        return ""
    last = stripped[-1]
    if last in _SENTENCE_END:
        core = stripped.rstrip("".join(_SENTENCE_END)).lower()
        if last == "." and (core in _ABBREVIATIONS or (len(core) == 1 and core.isalpha())):
            return ""
        return "sentence"
    if last in _CLAUSE_END:
        return "clause"
    return ""


async def phrases(words: AsyncIterator[str], phrasing: Phrasing) -> AsyncGenerator[Phrase, None]:
    """Group a stream of words (or multi-word texts) into phrases to synthesize."""
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for text in words:
                queue.put_nowait(text)
        except Exception as exc:
            queue.put_nowait(exc)
        else:
            queue.put_nowait(None)

    reader = asyncio.create_task(read(), name="phrasing-text-reader")
    pending: list[str] = []
    first = True
    try:
        while True:
            idle = phrasing.idle_flush_s if pending else None
            try:
                async with asyncio.timeout(idle):
                    item = await queue.get()
            except TimeoutError:
                yield Phrase(tuple(pending), end_pause=False)
                pending, first = [], False
                continue
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            for word in item.split():
                pending.append(word)
                ending = word_ending(word)
                clause_min, longest = phrasing.limits(first)
                if (
                    ending == "sentence"
                    or (ending == "clause" and len(pending) >= clause_min)
                    or len(pending) >= longest
                ):
                    yield Phrase(tuple(pending), end_pause=bool(ending))
                    pending, first = [], False
        if pending:
            yield Phrase(tuple(pending), end_pause=bool(word_ending(pending[-1])))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


class PhrasedTextToSpeech(BaseTextToSpeech):
    """A backend that speaks one phrase at a time: it sets `phrasing` and implements
    `_speak(phrase)`, which yields the phrase's audio and words in order."""

    phrasing: Phrasing = Phrasing()

    @abstractmethod
    def _speak(self, phrase: Phrase) -> AsyncGenerator[TTSAudioMessage | TTSTextMessage, None]:
        """Synthesize one phrase; audio and words in order, on the session's timeline."""

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        async with contextlib.aclosing(phrases(text, self.phrasing)) as grouped:
            async for phrase in grouped:
                async with contextlib.aclosing(self._speak(phrase)) as messages:
                    async for message in messages:
                        yield message
