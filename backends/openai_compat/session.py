"""The `openai` backend's session: streamed words -> sentences -> speech requests.

Words are grouped into sentences (`unmute.tts.phrasing`; the first cut early at a
clause boundary so the first audio comes soon). Each sentence is one request; while
one sentence plays, at most one more is requested, so the next is ready when the
current one ends. Audio leaves in order as it arrives, resampled to 24 kHz in blocks
of at most 80 ms (`ResampledBlocks`); words leave as they are decided, each before the
audio it starts in when the hold allows (`HeldAudio`). The word timer's work runs in
a worker thread (`ThreadedWordTimer`): with no hold, audio never waits for it.

A request that fails before any of its audio arrived (connection, 429, 5xx,
first-byte timeout) is retried with the start-up policy's backoff inside its budget;
nothing that produced audio is ever requested again, so no speech repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar, Final

import httpx

from backends.openai_compat.decoding import EXTRA, AudioFormatError
from backends.openai_compat.settings import OpenAITTSSettings, load_client_settings
from backends.openai_compat.speech_client import Received, SpeechClient
from backends.openai_compat.timer_thread import ThreadedWordTimer, Wake
from backends.openai_compat.word_hold import CaptionMatcher, HeldAudio, Message
from unmute.tts.base import BackendError, BaseTextToSpeech, RetryableError, RetryPolicy
from unmute.tts.phrasing import Phrase, Phrasing, phrases
from unmute.tts.protocol import SAMPLE_RATE, FloatArray, TTSTextMessage
from unmute.tts.resampling import ResampledBlocks
from unmute.tts.word_timer import MAX_LOOKAHEAD_S, TimedWord, create_word_timer

logger = logging.getLogger(__name__)

CHUNK_SAMPLES: Final = SAMPLE_RATE * 80 // 1000
"""Audio messages carry at most 80 ms."""
SENTENCES: Final = Phrasing(
    idle_flush_s=0.3, clause_min_words=12, max_words=40, first_clause_min_words=1
)
"""A sentence per request; the first one ends at its first clause boundary."""
AHEAD: Final = 1
"""Requests in flight beyond the sentence playing."""


class _Done:
    pass


class _Timed:
    """A queued word-timer call finished."""


_DONE: Final = _Done()
_TIMED: Final = _Timed()


@dataclass
class _Sentence:
    phrase: Phrase
    items: asyncio.Queue[Received | _Done | _Timed | BaseException] = field(
        default_factory=lambda: asyncio.Queue[Received | _Done | _Timed | BaseException]()
    )
    task: asyncio.Task[None] | None = None


def _text(word: TimedWord) -> TTSTextMessage:
    stop_s = max(word.stop_s, word.start_s)
    return TTSTextMessage(text=word.text, start_s=word.start_s, stop_s=stop_s)


class OpenAITextToSpeech(BaseTextToSpeech):
    """Streaming session on an OpenAI-compatible `/v1/audio/speech` server."""

    backend_name: ClassVar[str] = "openai"

    def __init__(
        self,
        voice: str | None = None,
        *,
        settings: OpenAITTSSettings | None = None,
        retry: RetryPolicy | None = None,
        phrasing: Phrasing = SENTENCES,
    ) -> None:
        settings = settings or load_client_settings()
        super().__init__(voice or settings.voice, retry=retry or settings.retry_policy())
        self.settings = settings
        self.phrasing = phrasing
        self._client: httpx.AsyncClient | None = None
        self._speech: SpeechClient | None = None
        self._timer: ThreadedWordTimer | None = None
        self._samples_out = 0
        """Samples yielded so far: the session's audio timeline."""

    @property
    def requests(self) -> int:
        """Speech requests sent so far, retries included."""
        return 0 if self._speech is None else self._speech.requests

    async def _open(self) -> None:
        limit = self.settings.connect_timeout_s
        timeout = httpx.Timeout(connect=limit, read=None, write=limit, pool=limit)
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._speech = SpeechClient(self.settings, self._client)
        if self.settings.word_times == "estimate":
            language = self.settings.language
            timer = await asyncio.to_thread(
                create_word_timer, lookahead_s=MAX_LOOKAHEAD_S, language=language
            )
            self._timer = ThreadedWordTimer(timer)

    async def _close(self) -> None:
        client, self._client = self._client, None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()
        if client is not None:
            await client.aclose()

    async def _synthesize(self, text: AsyncIterator[str]) -> AsyncIterator[Message]:
        slots = asyncio.Semaphore(1 + AHEAD)
        sentences: asyncio.Queue[_Sentence | BaseException | None] = asyncio.Queue()
        started: list[_Sentence] = []
        planner = asyncio.create_task(
            self._plan(text, slots, sentences, started), name="openai-tts-plan"
        )
        try:
            while (sentence := await sentences.get()) is not None:
                if isinstance(sentence, BaseException):
                    raise sentence
                try:
                    async for message in self._play(sentence):
                        yield message
                finally:
                    slots.release()
        finally:
            tasks = [planner, *(s.task for s in started if s.task is not None)]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _plan(
        self,
        text: AsyncIterator[str],
        slots: asyncio.Semaphore,
        sentences: asyncio.Queue[_Sentence | BaseException | None],
        started: list[_Sentence],
    ) -> None:
        """Request each sentence once a slot is free; hand them to the player in order."""
        try:
            async with contextlib.aclosing(phrases(text, self.phrasing)) as grouped:
                async for phrase in grouped:
                    await slots.acquire()
                    sentence = _Sentence(phrase)
                    sentence.task = asyncio.create_task(
                        self._fetch(sentence), name="openai-tts-request"
                    )
                    started.append(sentence)
                    sentences.put_nowait(sentence)
        except Exception as exc:
            sentences.put_nowait(exc)
            return
        sentences.put_nowait(None)

    async def _fetch(self, sentence: _Sentence) -> None:
        """One sentence's request, retried while it produced no audio and budget is left."""
        speech = self._speech
        if speech is None:
            sentence.items.put_nowait(BackendError("openai backend used before start_up()"))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry.budget_s
        backoffs = self.retry.backoffs()
        while True:
            try:
                async for received in speech.stream(sentence.phrase.text, self.voice):
                    sentence.items.put_nowait(received)
            except RetryableError as exc:
                wait = await anext(backoffs)
                if loop.time() + wait >= deadline:
                    budget = f"{self.retry.budget_s:g} s"
                    sentence.items.put_nowait(BackendError(f"not ready within {budget}: {exc}"))
                    return
                self.metrics.retries += 1
                logger.info("openai: request failed (%s), retrying in %.2f s", exc, wait)
                await asyncio.sleep(wait)
                continue
            except Exception as exc:
                sentence.items.put_nowait(exc)
                return
            sentence.items.put_nowait(_DONE)
            return

    async def _play(self, sentence: _Sentence) -> AsyncIterator[Message]:
        """The sentence's audio and words, in order, on the session timeline."""
        words = sentence.phrase.words
        hold = HeldAudio(self._samples_out)
        timer = self._timer
        captions = CaptionMatcher(words, hold.pushed_s) if timer is None else None
        wake = functools.partial(sentence.items.put_nowait, _TIMED)
        if timer is not None:
            timer.begin_piece(words, wake)
        blocks: ResampledBlocks | None = None
        try:
            while not isinstance(item := await sentence.items.get(), _Done):
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Received):
                    for piece in item.pieces:
                        if blocks is None:
                            blocks = ResampledBlocks(piece.sample_rate, CHUNK_SAMPLES, extra=EXTRA)
                        elif piece.sample_rate != blocks.input_rate:
                            raise AudioFormatError(
                                f"the sample rate changed from {blocks.input_rate} to "
                                f"{piece.sample_rate} Hz inside one answer"
                            )
                        blocks.push(piece.pcm)
                    if blocks is not None:  # what arrived goes at once, however short
                        self._hold_blocks(blocks.take(partial=True), hold, wake)
                    if captions is not None:
                        hold.add_words(captions.feed(item.words))
                if timer is not None:
                    hold.add_words([_text(word) for word in timer.decided()])
                for message in hold.release(self._safe_s(hold, captions)):
                    yield message
            if blocks is not None:
                blocks.finish()
                self._hold_blocks(blocks.take(), hold, wake)
            if captions is not None:
                hold.add_words(captions.finish(hold.pushed_s))
            elif timer is not None:
                timer.end_piece(wake)
                while True:
                    hold.add_words([_text(word) for word in timer.decided()])
                    for message in hold.release(self._safe_s(hold, captions)):
                        yield message
                    if not timer.busy:
                        break
                    await sentence.items.get()  # only the timer's calls are left
            for message in hold.release_all():
                yield message
        finally:
            if timer is not None:
                timer.cancel()
        self._samples_out = hold.pushed_samples

    def _hold_blocks(self, blocks: list[FloatArray], hold: HeldAudio, wake: Wake) -> None:
        for block in blocks:
            hold.add_block(block)
        if self._timer is not None:
            self._timer.push_audio(blocks, wake)

    def _safe_s(self, hold: HeldAudio, captions: CaptionMatcher | None) -> float:
        """Audio up to here may go: no word starts in it that must go first."""
        timer = self._timer
        if captions is not None:
            safe = captions.open_word_start_s
            return hold.pushed_s if safe is None else safe
        if timer is None:
            return hold.pushed_s
        hold_s = min(self.settings.word_hold_s, MAX_LOOKAHEAD_S)
        if hold_s <= 0:
            return hold.pushed_s
        return max(timer.timed_s - hold_s, hold.last_word_start_s)
