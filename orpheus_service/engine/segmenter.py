"""Text stream -> segments that Orpheus speaks one llama request at a time.

Text arrives as deltas (words or pieces of words, as an LLM writes them). A
segment ends:

- at a sentence end, found by `pysbd`. A sentence counts as ended once the next
  one has begun, so an abbreviation such as "Dr." does not end a segment;
- at the length bound `max_chars`, at a word boundary (never inside a word or an
  emotion tag such as `<laugh>`), preferring a clause mark (, ; : dash) in the
  second half of the bound. A single word longer than the bound is kept whole;
- optionally early for the first segment (`first_segment_max_words`): after a
  clause mark once 3 words are in, or after that many words (at the last clause
  mark among them, if any), so speech starts before the first sentence is done;
- at the end of the input (`finish()`);
- when the input goes quiet after something that looks like a sentence end
  (`flush_sentence()`, driven by `segments(idle_flush_s=...)`), so a sentence is
  not held back until the next one starts.

Whitespace inside a segment is collapsed. A piece with no letters or digits (a
lone "...") is joined to the segment before it in the same call, else to the
next segment; it is dropped only when no segment follows.
The total input length is not limited.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

import pysbd  # pyright: ignore[reportMissingTypeStubs]

_WORD_CHAR = re.compile(r"\w")
_WHITESPACE = re.compile(r"\s+")
_COMPLETE_WORD = re.compile(r"\S+(?=\s)")
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014]$|\s-$")
_MIN_FIRST_CLAUSE_WORDS = 3


def _titles(splitter: object) -> frozenset[str]:
    """Abbreviations that come before a name (dr, mr, st...) in the splitter's language."""
    module: Any = getattr(splitter, "language_module", None)
    abbreviation: Any = getattr(module, "Abbreviation", None)
    titles: Any = getattr(abbreviation, "PREPOSITIVE_ABBREVIATIONS", ())
    return frozenset(str(title).lower() for title in titles)


def _normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


class TextSegmenter:
    """Incremental splitter: `push(delta)` and `finish()` return finished segments."""

    def __init__(
        self, *, max_chars: int = 150, first_segment_max_words: int = 0, language: str = "en"
    ) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        if first_segment_max_words < 0:
            raise ValueError("first_segment_max_words must be >= 0 (0 disables it)")
        self.max_chars = max_chars
        self.first_segment_max_words = first_segment_max_words
        self._splitter = pysbd.Segmenter(language=language, clean=False, char_span=True)
        self._titles = _titles(self._splitter)
        self._buffer = ""
        self._carry = ""
        self._emitted = 0
        self._finished = False

    @property
    def pending_text(self) -> str:
        """Text received and not yet part of a segment."""
        return self._buffer

    def push(self, delta: str) -> list[str]:
        """Add a text delta; return the segments it completes, in order."""
        if self._finished:
            raise RuntimeError("push after finish()")
        if not delta:
            return []
        self._buffer += delta
        out: list[str] = []
        self._take_sentences(out)
        self._take_long(out)
        self._take_first(out)
        return self._tidy(out)

    def finish(self) -> list[str]:
        """End of input: return the remaining segments."""
        if self._finished:
            return []
        self._finished = True
        out: list[str] = []
        self._take_sentences(out)
        rest = self._buffer
        self._buffer = ""
        out.extend(self._split_to_bound(rest))
        return self._tidy(out)

    def flush_sentence(self) -> list[str]:
        """Input went quiet: end the pending text now if it ends like a sentence.

        "Ends like a sentence": a final . ! ? or ellipsis (closing quotes and
        brackets allowed after it), and the last word is not a title such as
        "Dr." or an initial, which usually continue.
        """
        if self._finished:
            return []
        text = self._buffer.strip()
        if not text or not _SENTENCE_END.search(text):
            return []
        last = text.split()[-1]
        if last.endswith("."):
            core = last.rstrip(".").lower()
            if core in self._titles or (len(core) == 1 and core.isalpha()):
                return []
        self._buffer = ""
        return self._tidy(self._split_to_bound(text))

    async def segments(
        self, deltas: AsyncIterable[str], *, idle_flush_s: float | None = None
    ) -> AsyncGenerator[str]:
        """Segments of an async stream of deltas, each as soon as it is known.

        With `idle_flush_s`, a finished-looking sentence is not held back waiting
        for the next one when no text arrives for that long (`flush_sentence`).
        """
        iterator = aiter(deltas)
        if not idle_flush_s:
            async for delta in iterator:
                for segment in self.push(delta):
                    yield segment
            for segment in self.finish():
                yield segment
            return
        waiting: asyncio.Future[str] | None = None
        try:
            while True:
                waiting = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({waiting}, timeout=idle_flush_s)
                if not done:
                    for segment in self.flush_sentence():
                        yield segment
                    await asyncio.wait({waiting})
                try:
                    delta = waiting.result()
                except StopAsyncIteration:
                    break
                finally:
                    waiting = None
                for segment in self.push(delta):
                    yield segment
        finally:
            if waiting is not None and not waiting.done():
                waiting.cancel()
                await asyncio.wait({waiting})
        for segment in self.finish():
            yield segment

    # -- internals ---------------------------------------------------------

    def _take_sentences(self, out: list[str]) -> None:
        """Move every sentence that is followed by another one out of the buffer."""
        if not _WORD_CHAR.search(self._buffer):
            return
        starts = self._sentence_starts(self._buffer)
        if len(starts) < 2:
            return
        starts[0] = 0
        for begin, end in itertools.pairwise(starts):
            out.extend(self._split_to_bound(self._buffer[begin:end]))
        self._buffer = self._buffer[starts[-1] :]

    def _sentence_starts(self, text: str) -> list[int]:
        """Start offsets of the sentences pysbd finds in `text`, ascending."""
        splitter: Any = self._splitter
        spans: list[Any] = splitter.segment(text)
        return sorted(int(span.start) for span in spans)

    def _take_long(self, out: list[str]) -> None:
        """Cut the unfinished sentence while it is longer than the bound."""
        while len(self._buffer.strip()) > self.max_chars:
            cut = self._cut_point(self._buffer, self.max_chars, complete_words_only=True)
            if cut is None:
                return
            out.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]

    def _take_first(self, out: list[str]) -> None:
        """Cut the first segment early: at a clause mark once 3 words are in, else
        after N words (at the last clause mark among them, if any)."""
        limit = self.first_segment_max_words
        if limit == 0 or self._emitted or out:
            return
        last_clause: int | None = None
        for count, word in enumerate(_COMPLETE_WORD.finditer(self._buffer), start=1):
            cut: int | None = None
            if _CLAUSE_END.search(word.group()):
                last_clause = word.end()
                if count >= min(_MIN_FIRST_CLAUSE_WORDS, limit):
                    cut = last_clause
            if cut is None and count >= limit:
                cut = last_clause if last_clause is not None else word.end()
            if cut is not None:
                out.append(self._buffer[:cut])
                self._buffer = self._buffer[cut:]
                return

    def _split_to_bound(self, text: str) -> list[str]:
        """Split a finished piece of text into parts no longer than the bound."""
        parts: list[str] = []
        while len(text.strip()) > self.max_chars:
            cut = self._cut_point(text, self.max_chars, complete_words_only=False)
            if cut is None:
                break
            parts.append(text[:cut])
            text = text[cut:]
        parts.append(text)
        return parts

    @staticmethod
    def _cut_point(text: str, limit: int, *, complete_words_only: bool) -> int | None:
        """Index of the whitespace to cut `text` at so the head fits `limit`, or None."""
        lead = len(text) - len(text.lstrip())
        limit += lead
        best: int | None = None
        clause: int | None = None
        for gap in _WHITESPACE.finditer(text, lead):
            cut = gap.start()
            if cut == len(text.rstrip()) and not complete_words_only:
                break  # trailing whitespace: nothing after it to split off
            if cut > limit:
                if best is None:
                    best = cut  # one word longer than the bound: keep it whole
                break
            best = cut
            if cut - lead >= (limit - lead) // 2 and _CLAUSE_END.search(text[:cut]):
                clause = cut
        return clause if clause is not None else best

    def _tidy(self, parts: list[str]) -> list[str]:
        """Normalize whitespace; fold wordless pieces into a neighbouring segment."""
        segments: list[str] = []
        for part in parts:
            text = _normalize(part)
            if not text:
                continue
            if not _WORD_CHAR.search(text):
                if segments:
                    segments[-1] = f"{segments[-1]} {text}"
                else:
                    self._carry = f"{self._carry} {text}".strip()
                continue
            if self._carry:
                text = f"{self._carry} {text}"
                self._carry = ""
            segments.append(text)
        self._emitted += len(segments)
        return segments
