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
from collections.abc import AsyncGenerator
from typing import ClassVar

import numpy as np

from unmute.tts.base import RetryPolicy
from unmute.tts.espeak_ng.engine import DEFAULT_VOICE, EspeakEngine
from unmute.tts.espeak_ng.stream import SynthChunk
from unmute.tts.phrasing import Phrase, PhrasedTextToSpeech, Phrasing
from unmute.tts.protocol import SAMPLE_RATE, FloatArray, TTSAudioMessage, TTSTextMessage
from unmute.tts.resampling import ResampledBlocks


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


class EspeakTextToSpeech(PhrasedTextToSpeech):
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

    async def _speak(
        self, phrase: Phrase
    ) -> AsyncGenerator[TTSAudioMessage | TTSTextMessage, None]:
        """Synthesize one phrase; audio and words in order, on the session timeline."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("espeak backend used before start_up()")
        pending = ResampledBlocks(engine.sample_rate, self.chunk_samples, extra="espeak")
        words = _PhraseWords(phrase.words, self._samples_out, pending.ratio)
        async with engine.stream(
            " ".join(phrase.words), self._voice_name, end_pause=phrase.end_pause
        ) as stream:
            async for chunk in stream:
                words.on_chunk(chunk)
                pcm = chunk.samples.astype(np.float32) / np.float32(32768.0)
                pending.push(pcm)
                for block in pending.take(words.frontier - self._samples_out):
                    for message in self._audio(block, words):
                        yield message
        pending.finish()
        words.complete(self._samples_out + pending.length)
        for block in pending.take():
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
