"""The espeak backend: offline speech on the CPU from libespeak-ng, with word timings.

Words are grouped into phrases (at the end of a sentence or a longish clause, when no
word arrives for a short while, or at end of stream). Each phrase is synthesized by
libespeak-ng in a worker thread; its 22050 Hz buffers are resampled to 24 kHz as they
arrive and yielded in chunks of about 40 ms, so audio starts before the phrase is done.
Word times come from espeak's WORD events, placed on the session's audio timeline.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol

import numpy as np
import soxr  # pyright: ignore[reportMissingTypeStubs]

from backends.espeak.engine import DEFAULT_VOICE, EspeakEngine
from backends.espeak.stream import SynthChunk
from unmute.tts.base import BaseTextToSpeech, RetryPolicy
from unmute.tts.protocol import SAMPLE_RATE, FloatArray, TTSAudioMessage, TTSTextMessage

_SENTENCE_END: Final = frozenset(".!?…。！？")
_CLAUSE_END: Final = frozenset(",;:—，、；：")
_CLOSERS: Final = "\"')]}»”’"
_ABBREVIATIONS: Final = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "prof", "e.g", "i.e"}
)


@dataclass(frozen=True)
class Phrasing:
    """When the words received so far are spoken as one phrase."""

    idle_flush_s: float = 0.2
    """Speak the pending words when no new word arrives for this long."""
    clause_min_words: int = 4
    """Speak at a comma, semicolon, colon... once the phrase has this many words."""
    max_words: int = 30
    """Speak a phrase that grew this long without punctuation."""


@dataclass(frozen=True)
class Phrase:
    """Words to synthesize together."""

    words: tuple[str, ...]
    end_pause: bool
    """Whether it ends with punctuation, so espeak's pause after it is kept."""


def _ending(word: str) -> str:
    """'sentence', 'clause' or '' for a word's final punctuation."""
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

    reader = asyncio.create_task(read(), name="espeak-text-reader")
    pending: list[str] = []
    try:
        while True:
            try:
                async with asyncio.timeout(phrasing.idle_flush_s if pending else None):
                    item = await queue.get()
            except TimeoutError:
                yield Phrase(tuple(pending), end_pause=False)
                pending = []
                continue
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            for word in item.split():
                pending.append(word)
                ending = _ending(word)
                if (
                    ending == "sentence"
                    or (ending == "clause" and len(pending) >= phrasing.clause_min_words)
                    or len(pending) >= phrasing.max_words
                ):
                    yield Phrase(tuple(pending), end_pause=bool(ending))
                    pending = []
        if pending:
            yield Phrase(tuple(pending), end_pause=bool(_ending(pending[-1])))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


class _Resampler(Protocol):
    def resample_chunk(self, x: FloatArray, last: bool = False) -> FloatArray: ...


class _Pending:
    """Output audio not yet yielded, released in blocks of a fixed size."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[FloatArray] = []
        self.length = 0

    def push(self, samples: FloatArray) -> None:
        if len(samples):
            self._parts.append(samples)
            self.length += len(samples)

    def take(self, limit: int | None) -> list[FloatArray]:
        """Full blocks within the first `limit` samples; None: everything (last one short)."""
        cut = self.length if limit is None else min(limit, self.length) // self.size * self.size
        if cut <= 0:
            return []
        joined = np.concatenate(self._parts)
        blocks = [joined[i : i + self.size] for i in range(0, cut, self.size)]
        rest = joined[cut:]
        self._parts = [rest] if len(rest) else []
        self.length = len(rest)
        return blocks


class _PhraseWords:
    """Maps espeak's word events back to the phrase's words and their times.

    Times are output samples on the session timeline. espeak announces most words; a
    word it reads together with a neighbour ("of the") or skips (a dash) gets a share
    of the announced interval, by length. A word is emitted once its end is known.
    """

    def __init__(self, words: tuple[str, ...], offset: int, ratio: float) -> None:
        self.words = words
        self.offset = offset
        self.ratio = ratio
        self.char_starts: list[int] = []
        position = 0
        for word in words:
            self.char_starts.append(position)
            position += len(word) + 1
        self.starts: list[int] = []
        """Start (output sample) of each word whose start is known, in order; after
        `complete()`, one more entry: the end of the phrase."""
        self.emitted = 0

    @property
    def frontier(self) -> int:
        """Audio before this sample can be yielded: its words' times are all known."""
        return self.starts[-1] if self.starts else self.offset

    def on_chunk(self, chunk: SynthChunk) -> None:
        for event in chunk.words:
            index = max(bisect.bisect_right(self.char_starts, event.char_index) - 1, 0)
            if index >= len(self.starts):
                start = max(self.offset + round(event.sample * self.ratio), self.frontier)
                self._reach(index, start)

    def _reach(self, index: int, start: int) -> None:
        """Set the start of word `index`, sharing the gap with the words in between."""
        if not self.starts:
            self.starts.append(min(self.offset, start))
        known = len(self.starts) - 1
        between = self.words[known:index]
        weights = np.cumsum([len(word) + 1 for word in between], dtype=np.float64)
        begin = self.starts[known]
        for weight in weights[:-1]:
            self.starts.append(begin + round((start - begin) * weight / weights[-1]))
        if index > known:
            self.starts.append(start)

    def complete(self, phrase_end: int) -> None:
        """The phrase's audio ends at `phrase_end`: every word's time is now known."""
        self.starts = [min(start, phrase_end) for start in self.starts]
        self._reach(len(self.words), phrase_end)

    def ready(self, audio_end: int) -> list[TTSTextMessage]:
        """Words starting before `audio_end` whose end is known, not emitted yet."""
        out: list[TTSTextMessage] = []
        while (
            self.emitted < len(self.words)
            and self.emitted + 1 < len(self.starts)
            and self.starts[self.emitted] < audio_end
        ):
            start, stop = self.starts[self.emitted], self.starts[self.emitted + 1]
            out.append(
                TTSTextMessage(
                    text=self.words[self.emitted],
                    start_s=start / SAMPLE_RATE,
                    stop_s=max(start, stop) / SAMPLE_RATE,
                )
            )
            self.emitted += 1
        return out


class EspeakTextToSpeech(BaseTextToSpeech):
    """Streaming TTS session on libespeak-ng (offline, CPU, 24 kHz float32 mono)."""

    backend_name: ClassVar[str] = "espeak"

    def __init__(
        self,
        voice: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        phrasing: Phrasing | None = None,
        chunk_s: float = 0.04,
    ) -> None:
        super().__init__(voice or DEFAULT_VOICE, retry=retry)
        self.phrasing = phrasing or Phrasing()
        self.chunk_samples = max(1, round(chunk_s * SAMPLE_RATE))
        self._engine: EspeakEngine | None = None
        self._voice_name = DEFAULT_VOICE
        self._samples_out = 0
        """Output samples yielded so far: the session's audio timeline."""

    async def _open(self) -> None:
        engine = await asyncio.to_thread(EspeakEngine.get)
        self._voice_name = await asyncio.to_thread(engine.resolve_voice, self.voice)
        self._engine = engine

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        async with contextlib.aclosing(phrases(text, self.phrasing)) as grouped:
            async for phrase in grouped:
                async with contextlib.aclosing(self._speak(phrase)) as messages:
                    async for message in messages:
                        yield message

    async def _speak(
        self, phrase: Phrase
    ) -> AsyncGenerator[TTSAudioMessage | TTSTextMessage, None]:
        """Synthesize one phrase; audio and words in order, on the session timeline."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("espeak backend used before start_up()")
        native_rate = engine.sample_rate
        resampler: _Resampler = soxr.ResampleStream(
            native_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
        )
        pending = _Pending(self.chunk_samples)
        words = _PhraseWords(phrase.words, self._samples_out, SAMPLE_RATE / native_rate)
        async with engine.stream(
            " ".join(phrase.words), self._voice_name, end_pause=phrase.end_pause
        ) as stream:
            async for chunk in stream:
                words.on_chunk(chunk)
                pcm = chunk.samples.astype(np.float32) / np.float32(32768.0)
                pending.push(resampler.resample_chunk(pcm))
                for block in pending.take(words.frontier - self._samples_out):
                    for message in self._audio(block, words):
                        yield message
        pending.push(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        words.complete(self._samples_out + pending.length)
        for block in pending.take(None):
            for message in self._audio(block, words):
                yield message
        for message in words.ready(self._samples_out + 1):
            yield message

    def _audio(
        self, block: FloatArray, words: _PhraseWords
    ) -> list[TTSAudioMessage | TTSTextMessage]:
        """The words starting in `block`, then the block itself."""
        end = self._samples_out + len(block)
        messages: list[TTSAudioMessage | TTSTextMessage] = [*words.ready(end)]
        messages.append(TTSAudioMessage(pcm=np.clip(block, -1.0, 1.0)))
        self._samples_out = end
        return messages
