"""A deterministic in-memory backend for tests of the shared behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from unmute.tts.base import BaseTextToSpeech, RetryableError, RetryPolicy
from unmute.tts.protocol import SAMPLE_RATE, TTSAudioMessage, TTSTextMessage

WORD_S = 0.1
CHUNKS_PER_WORD = 2


class FakeTextToSpeech(BaseTextToSpeech):
    """Speaks each word as `word_s` (WORD_S) of a tone, in CHUNKS_PER_WORD chunks."""

    backend_name = "fake"

    def __init__(
        self,
        voice: str | None = None,
        *,
        chunk_delay_s: float = 0.0,
        fail_opens: int = 0,
        fail_after_words: int | None = None,
        silent: bool = False,
        word_s: float = WORD_S,
        amplitude: float = 0.1,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(voice, retry=retry)
        self.chunk_delay_s = chunk_delay_s
        self.fail_opens = fail_opens
        self.fail_after_words = fail_after_words
        self.silent = silent
        self.word_s = word_s
        self.amplitude = amplitude
        """Peak of the tone: tells the audio of two fakes apart."""
        self.opens = 0
        self.closed = 0

    async def _open(self) -> None:
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise RetryableError(f"cold start {self.opens}")

    async def _close(self) -> None:
        self.closed += 1

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        t = 0.0
        words = 0
        async for word in text:
            if self.silent:
                continue
            if self.fail_after_words is not None and words >= self.fail_after_words:
                raise ConnectionError("connection dropped")
            samples = int(self.word_s * SAMPLE_RATE) // CHUNKS_PER_WORD
            yield TTSTextMessage(text=word, start_s=t, stop_s=t + self.word_s)
            for _ in range(CHUNKS_PER_WORD):
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield TTSAudioMessage(
                    pcm=(self.amplitude * np.sin(np.arange(samples) / 10)).astype(np.float32)
                )
            t += self.word_s
            words += 1
