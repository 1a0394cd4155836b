"""Text stream -> segments that Orpheus speaks one llama request at a time.

Text arrives as deltas (words or pieces of words, as an LLM writes them). A
segment ends:

- at a sentence end, found by `pysbd`. A sentence counts as ended once the next
  one has begun, so an abbreviation such as "Dr." does not end a segment;
- at the length bound `max_chars`, at a word boundary (never inside an emotion
  tag such as `<laugh>`), preferring a clause mark (, ; : dash) in the second
  half of the bound. A single word longer than the bound is cut at the bound, so
  no segment is ever longer than `max_chars` and a prompt always fits
  llama-server's context;
- optionally early for the first segment (`first_segment_max_words`): after a
  clause mark once 3 words are in, or after that many words (at the last clause
  mark among them, if any), so speech starts before the first sentence is done;
- at the end of the input (`finish()`);
- when the input goes quiet after something that looks like a sentence end
  (`flush_sentence()`, driven by `segments(idle_flush_s=...)`), so a sentence is
  not held back until the next one starts.

Whitespace inside a segment is collapsed. A piece with no letters or digits (a
lone "...") is joined to the segment before it in the same call, else to the
next segment, as long as the result stays within the bound; otherwise (and when
no segment follows) it is dropped: it has nothing to speak.

Cost: time linear in the text, whatever the text. pysbd never sees more than a
window of `4 * max_chars` characters at a time and every character is analysed a
bounded number of times; the pending text is kept with an offset, never copied
per segment. The total input length is not limited here (the service bounds
what one client may send). `segments()` does the work lazily, one bounded step
per segment as the consumer asks for it, and gives the event loop a turn between
steps, so one huge delta never blocks the loop for long.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import unicodedata
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

import pysbd  # pyright: ignore[reportMissingTypeStubs]

_WORD_CHAR = re.compile(r"\w")
_WHITESPACE = re.compile(r"\s+")
_SPACES = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n\s*")
_NON_SPACE = re.compile(r"\S")
_COMPLETE_WORD = re.compile(r"\S+(?=\s)")
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_CLAUSE_MARKS = ",;:\u2013\u2014"
_MIN_FIRST_CLAUSE_WORDS = 3
_WINDOW_FACTOR = 4
"""pysbd sees at most this many times `max_chars` characters at once."""
_WINDOW_MARGIN = 32
"""Sentence starts this close to the end of a cut-off window are not trusted."""
_MAX_COMBINING_BACKOFF = 8
_CHUNK_CHARS = 4096
"""Received text is taken into the working buffer this many characters at a time..."""
_CHUNKS_PER_STEP = 4
"""...at most this many chunks per step, so a step's cost is bounded."""


def _titles(splitter: object) -> frozenset[str]:
    """Abbreviations that come before a name (dr, mr, st...) in the splitter's language."""
    module: Any = getattr(splitter, "language_module", None)
    abbreviation: Any = getattr(module, "Abbreviation", None)
    titles: Any = getattr(abbreviation, "PREPOSITIVE_ABBREVIATIONS", ())
    return frozenset(str(title).lower() for title in titles)


def _normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _collapse(text: str) -> str:
    """Whitespace runs as one character: a line break if the run has one, else a space."""
    return _LINE_BREAKS.sub("\n", _SPACES.sub(" ", text))


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
        self.window_chars = _WINDOW_FACTOR * max_chars + _WINDOW_MARGIN
        """The most text pysbd is given at once."""
        self._splitter = pysbd.Segmenter(language=language, clean=False, char_span=True)
        self._titles = _titles(self._splitter)
        self._received: deque[str] = deque()
        """Deltas not yet in `_buffer`; `_received_pos` is read of the first."""
        self._received_pos = 0
        self._buffer = ""
        """Working text, whitespace collapsed; at most about a window ahead of `_pos`."""
        self._pos = 0
        """Start of the pending text in `_buffer` (what is before it was segmented)."""
        self._starts: list[int] = []
        """Sentence starts found by pysbd (offsets in `_buffer`), ascending."""
        self._known_until = 0
        """Every sentence start before this offset is in `_starts`."""
        self._parts = 0
        self._carry = ""
        self._emitted = 0
        self._finished = False

    @property
    def pending_text(self) -> str:
        """Text received and not yet part of a segment (whitespace collapsed as far as
        the segmenter has read it)."""
        received = "".join(self._received)[self._received_pos :]
        return self._buffer[self._pos :] + received

    def push(self, delta: str) -> list[str]:
        """Add a text delta; return the segments it completes, in order."""
        if self._finished:
            raise RuntimeError("push after finish()")
        if not delta:
            return []
        self._append(delta)
        return self._tidy(self._drain(final=False))

    def finish(self) -> list[str]:
        """End of input: return the remaining segments."""
        if self._finished:
            return []
        self._finished = True
        return self._tidy(self._drain(final=True))

    def flush_sentence(self) -> list[str]:
        """Input went quiet: end the pending text now if it ends like a sentence.

        "Ends like a sentence": a final . ! ? or ellipsis (closing quotes and
        brackets allowed after it), and the last word is not a title such as
        "Dr." or an initial, which usually continue.
        """
        if self._finished:
            return []
        if self._received:
            return []  # text not read yet: the pending text does not end here
        text = self._buffer[self._pos :].strip()  # short: drained to about the bound
        if not text or not _SENTENCE_END.search(text):
            return []
        last = text.rsplit(maxsplit=1)[-1]
        if last.endswith("."):
            core = last.rstrip(".").lower()
            if core in self._titles or (len(core) == 1 and core.isalpha()):
                return []
        out: list[str] = []
        while (part := self._step(final=True)) is not None:
            out += part
        return self._tidy(out)

    async def segments(
        self, deltas: AsyncIterable[str], *, idle_flush_s: float | None = None
    ) -> AsyncGenerator[str]:
        """Segments of an async stream of deltas, each as soon as it is known.

        Splitting is lazy: the next delta is read once the pending text holds no
        finished segment, and the event loop gets a turn after every step. With
        `idle_flush_s`, a finished-looking sentence is not held back waiting for
        the next one when no text arrives for that long (`flush_sentence`).
        """
        iterator = aiter(deltas)
        waiting: asyncio.Future[str] | None = None
        try:
            while True:
                while (parts := self._step(final=False)) is not None:
                    for segment in self._tidy(parts):
                        yield segment
                    await asyncio.sleep(0)
                await asyncio.sleep(0)  # queued deltas never hold the loop in a row
                if not idle_flush_s:
                    try:
                        delta = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    self._append(delta)
                    continue
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
                self._append(delta)
        finally:
            if waiting is not None and not waiting.done():
                waiting.cancel()
                await asyncio.wait({waiting})
        self._finished = True
        while (parts := self._step(final=True)) is not None:
            for segment in self._tidy(parts):
                yield segment
            await asyncio.sleep(0)

    # -- internals ---------------------------------------------------------

    def _append(self, delta: str) -> None:
        """Queue received text; steps read it into the working buffer as they need it."""
        if delta:
            self._received.append(delta)

    def _fill(self) -> bool:
        """Read received text into the buffer until a window is in; False when the
        window is still short and received text is left (read more next step)."""
        need = self.window_chars + 1
        if len(self._buffer) - self._pos >= need or not self._received:
            return True
        rest = self._buffer[self._pos :]
        pieces = [rest]
        have = len(rest)
        last = rest[-1:]
        for _ in range(_CHUNKS_PER_STEP):
            if have >= need or not self._received:
                break
            head = self._received[0]
            start = self._received_pos
            self._received_pos += _CHUNK_CHARS
            if self._received_pos >= len(head):
                self._received.popleft()
                self._received_pos = 0
            piece = _collapse(head[start : start + _CHUNK_CHARS])
            if last.isspace() and piece[:1].isspace():
                piece = piece[1:]
            if piece:
                pieces.append(piece)
                have += len(piece)
                last = piece[-1]
        shift = self._pos
        self._buffer = "".join(pieces)
        self._pos = 0
        self._starts = [start - shift for start in self._starts if start > shift]
        self._known_until = max(0, self._known_until - shift)
        return have >= need or not self._received

    def _drain(self, *, final: bool) -> list[str]:
        out: list[str] = []
        while (part := self._step(final=final)) is not None:
            out += part
        return out

    def _step(self, *, final: bool) -> list[str] | None:
        """Take the next segment off the pending text: [text], or [] when the step only
        consumed text (whitespace, wordless text), or None when more text is needed."""
        if not self._fill():
            return []  # read text in, and give others a turn
        buf = self._buffer
        first = _NON_SPACE.search(buf, self._pos)
        if first is None:
            self._pos = len(buf)
            return [] if self._received else None
        pos = self._pos = first.start()
        window_end = min(len(buf), pos + self.window_chars)
        if not _WORD_CHAR.search(buf, pos, window_end):
            if final or window_end - pos > self.max_chars:
                return self._take(window_end, count=False)  # nothing to speak in it
            return None
        start = self._next_start(pos)
        if start is not None:
            return self._take(self._bounded_end(pos, start))
        if final:
            return self._take(self._bounded_end(pos, len(buf)))
        if self._text_length(pos, len(buf)) > self.max_chars:
            return self._take(self._cut_point(pos, len(buf)))
        if self.first_segment_max_words and self._parts == 0:
            cut = self._first_cut(pos)
            if cut is not None:
                return self._take(cut)
        return None

    def _take(self, end: int, *, count: bool = True) -> list[str]:
        part = self._buffer[self._pos : end]
        self._pos = end
        if count:
            self._parts += 1
        return [part]

    def _next_start(self, pos: int) -> int | None:
        """The first sentence start after `pos`, or None if the sentence goes on
        past what is known (running pysbd on a window when needed)."""
        index = bisect.bisect_right(self._starts, pos)
        if index < len(self._starts) and self._starts[index] < self._known_until:
            return self._starts[index]
        if self._known_until > pos + self.max_chars + 1:
            return None  # a long sentence: no start for more than a segment's length
        self._analyse(pos)
        index = bisect.bisect_right(self._starts, pos)
        return self._starts[index] if index < len(self._starts) else None

    def _analyse(self, pos: int) -> None:
        """Find the sentence starts in the window at `pos` with pysbd."""
        buf = self._buffer
        end = min(len(buf), pos + self.window_chars)
        splitter: Any = self._splitter
        spans: list[Any] = splitter.segment(buf[pos:end])
        starts = sorted(pos + int(span.start) for span in spans)
        trusted = end if end == len(buf) else end - _WINDOW_MARGIN
        self._starts = [start for start in starts if pos < start < trusted]
        self._known_until = trusted

    def _text_length(self, begin: int, end: int) -> int:
        """Length of buf[begin:end] without trailing whitespace (at most one character)."""
        return end - begin - int(end > begin and self._buffer[end - 1].isspace())

    def _bounded_end(self, pos: int, end: int) -> int:
        """`end`, or a cut point before it when buf[pos:end] is longer than the bound."""
        if self._text_length(pos, end) <= self.max_chars:
            return end
        return self._cut_point(pos, end)

    def _cut_point(self, pos: int, end: int) -> int:
        """Where to cut buf[pos:end] (longer than the bound) so the head fits the bound:
        the last whitespace within it (a clause mark in its second half if any), else,
        for a first word longer than the bound, the bound itself."""
        buf = self._buffer
        limit = pos + self.max_chars
        best: int | None = None
        clause: int | None = None
        for gap in _WHITESPACE.finditer(buf, pos, min(end, limit + 1)):
            cut = gap.start()
            best = cut
            if cut - pos >= self.max_chars // 2 and self._clause_before(cut):
                clause = cut
        if clause is not None:
            return clause
        if best is not None:
            return best
        cut = limit  # one word longer than the bound: cut it, not inside a character
        for _ in range(_MAX_COMBINING_BACKOFF):
            if cut - 1 <= pos or not unicodedata.combining(buf[cut]):
                break
            cut -= 1
        return cut

    def _clause_before(self, cut: int) -> bool:
        buf = self._buffer
        mark = buf[cut - 1]
        return mark in _CLAUSE_MARKS or (mark == "-" and cut >= 2 and buf[cut - 2].isspace())

    def _first_cut(self, pos: int) -> int | None:
        """End of an early first segment: at a clause mark once 3 words are in, else
        after N words (at the last clause mark among them, if any)."""
        limit = self.first_segment_max_words
        last_clause: int | None = None
        words = _COMPLETE_WORD.finditer(self._buffer, pos, pos + self.max_chars + 2)
        for count, word in enumerate(words, start=1):
            if self._clause_before(word.end()):
                last_clause = word.end()
                if count >= min(_MIN_FIRST_CLAUSE_WORDS, limit):
                    return last_clause
            if count >= limit:
                return last_clause if last_clause is not None else word.end()
        return None

    def _tidy(self, parts: list[str]) -> list[str]:
        """Normalize whitespace; fold wordless pieces into a neighbouring segment
        while it stays within the bound (else drop them)."""
        segments: list[str] = []
        for part in parts:
            text = _normalize(part)
            if not text:
                continue
            if not _WORD_CHAR.search(text):
                if segments and len(segments[-1]) + 1 + len(text) <= self.max_chars:
                    segments[-1] = f"{segments[-1]} {text}"
                elif len(self._carry) + 1 + len(text) < self.max_chars:
                    self._carry = f"{self._carry} {text}".strip()
                continue
            if self._carry and len(self._carry) + 1 + len(text) <= self.max_chars:
                text = f"{self._carry} {text}"
            self._carry = ""
            segments.append(text)
        self._emitted += len(segments)
        return segments
