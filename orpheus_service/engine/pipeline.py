"""OrpheusEngine: a text stream in, audio chunks and word timings out.

Pipeline of one synthesis (`OrpheusEngine.synthesize`):

    text deltas -> TextSegmenter -> one llama request per segment (TokenSource)
      -> OrpheusTokenParser -> frames -> FrameDecoder (fresh per segment, flushed)
      -> AudioChunk / WordTiming / SegmentDone events, in segment order

- Segments: see `TextSegmenter`. A finished-looking sentence is sent after
  `idle_flush_s` without new text, rather than waiting for the next sentence.
- Pipelining: one background task reads the text and runs the llama requests,
  one segment after another. The next segment's request starts as soon as the
  previous one's tokens are all in, while that segment is still being decoded
  and consumed; at most `lookahead_segments` segments are generated ahead of the
  one being consumed. Frames are decoded as they arrive, in batches of whatever
  has arrived since the last decode call (at most `max_decode_frames`).
- Decoding goes through a `FrameDecoder` (async), so the caller chooses where
  it runs: `ThreadedFrameDecoder` runs a synchronous decoder in a worker thread
  (the event loop never runs torch); a batching scheduler can be plugged in
  instead.
- Word timings are estimates: each segment's words get time in proportion to
  their length, at a speaking rate learnt from the segments before (15 chars/s
  at first). A word is emitted once the audio produced so far reaches its
  estimated end, always before the audio chunk that covers it; the last word of
  a segment waits for the segment's end, where the words still pending share the
  time left to the end of the segment's real audio. So timings are monotonic,
  do not overlap and never pass the end of the audio emitted with or after them.
- Cancellation: `aclose()` on the synthesis (or cancelling the task iterating it)
  cancels the background task, which closes the llama token stream (its HTTP
  response), and closes the decoder (`aclose()`, when it has one: a scheduled
  decoder leaves the scheduler); no task is left running. A decode call
  already running in a worker thread finishes there and its result is dropped.
- Errors: exceptions of the token source (llama-server) propagate unchanged,
  with a note naming the segment; a segment that yields no valid frame raises
  `NoAudioError`. An empty text yields no events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from orpheus_service.engine.events import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    AudioChunk,
    EngineEvent,
    EngineStats,
    NoAudioError,
    OrpheusEngineError,
    Pcm,
    SegmentDone,
    WordTiming,
)
from orpheus_service.engine.frame_decoder import (
    DecoderFactory,
    FrameDecoder,
    SyncStreamDecoder,
    ThreadedFrameDecoder,
    threaded_decoder_factory,
)
from orpheus_service.engine.prompt import PromptPart, build_prompt, check_voice
from orpheus_service.engine.segmenter import TextSegmenter
from orpheus_service.engine.tokens import Frame, OrpheusTokenParser, TokenStats
from orpheus_service.engine.word_timing import DEFAULT_SECONDS_PER_UNIT, WordClock

if TYPE_CHECKING:
    from orpheus_service.llama.client import SamplingOverrides
    from orpheus_service.settings import OrpheusSettings

__all__ = [
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "AudioChunk",
    "DecoderFactory",
    "EngineEvent",
    "EngineStats",
    "FrameDecoder",
    "NoAudioError",
    "OrpheusEngine",
    "OrpheusEngineError",
    "Pcm",
    "SegmentDone",
    "SyncStreamDecoder",
    "Synthesis",
    "ThreadedFrameDecoder",
    "TokenSource",
    "WordTiming",
    "threaded_decoder_factory",
]


class TokenSource(Protocol):
    """Starts one generation: a prompt in, generated token ids out (streamed).

    Sampling settings are bound by whoever builds the source; a synthesis
    started with `sampling` overrides passes them as `sampling=` on each of its
    requests (and only then: a source for syntheses without overrides may take
    the prompt alone). The returned iterator should be an async generator (or
    have `aclose()`): the engine closes it when the segment ends or the
    synthesis is cancelled.
    """

    def __call__(
        self, prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
    ) -> AsyncIterator[int]: ...


@dataclass(eq=False)
class _SegmentJob:
    index: int
    text: str
    frames: asyncio.Queue[Frame | _SegmentEnd | _Failure] = field(
        default_factory=lambda: asyncio.Queue[Frame | _SegmentEnd | _Failure]()
    )


@dataclass(frozen=True)
class _SegmentEnd:
    stats: TokenStats
    truncated: bool


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class _InputDone:
    pass


class OrpheusEngine:
    """Speaks text streams with Orpheus; safe to share between concurrent syntheses."""

    def __init__(
        self,
        token_source: TokenSource,
        decoder_factory: DecoderFactory,
        *,
        default_voice: str = "tara",
        segment_max_chars: int = 150,
        first_segment_max_words: int = 8,
        lookahead_segments: int = 1,
        max_tokens: int | None = None,
        max_decode_frames: int = 16,
        idle_flush_s: float | None = 0.2,
    ) -> None:
        if lookahead_segments < 0:
            raise ValueError("lookahead_segments must be >= 0")
        if max_decode_frames < 1:
            raise ValueError("max_decode_frames must be >= 1")
        self.token_source = token_source
        self.decoder_factory = decoder_factory
        self.default_voice = check_voice(default_voice)
        self.segment_max_chars = segment_max_chars
        self.first_segment_max_words = first_segment_max_words
        self.lookahead_segments = lookahead_segments
        self.max_tokens = max_tokens
        self.max_decode_frames = max_decode_frames
        self.idle_flush_s = idle_flush_s

    @classmethod
    def from_settings(
        cls,
        settings: OrpheusSettings,
        token_source: TokenSource,
        decoder_factory: DecoderFactory,
    ) -> OrpheusEngine:
        """An engine configured by OrpheusSettings."""
        return cls(
            token_source,
            decoder_factory,
            default_voice=settings.default_voice,
            segment_max_chars=settings.segment_max_chars,
            first_segment_max_words=settings.first_segment_max_words,
            lookahead_segments=settings.lookahead_segments,
            max_tokens=settings.max_tokens,
            idle_flush_s=settings.idle_flush_s or None,
        )

    def synthesize(
        self,
        text: str | AsyncIterable[str],
        *,
        voice: str | None = None,
        sampling: SamplingOverrides | None = None,
    ) -> Synthesis:
        """Start speaking `text` (a whole string or a stream of deltas).

        Raises UnknownVoiceError at once for an unknown voice. `sampling`
        overrides the token source's sampling settings for this synthesis only.
        Iterate the result for events; close it (or use `async with`) to cancel.
        """
        chosen = check_voice(voice) if voice is not None else self.default_voice
        if isinstance(text, str):
            # Whole text: the first sentence is known, a short first cut only hurts prosody.
            segmenter = TextSegmenter(max_chars=self.segment_max_chars)
            return Synthesis(self, _one(text), chosen, segmenter, sampling)
        segmenter = TextSegmenter(
            max_chars=self.segment_max_chars,
            first_segment_max_words=self.first_segment_max_words,
        )
        return Synthesis(self, text, chosen, segmenter, sampling)


async def _one(text: str) -> AsyncIterator[str]:
    yield text


class Synthesis:
    """One running synthesis: an async iterator of EngineEvent with `stats`."""

    def __init__(
        self,
        engine: OrpheusEngine,
        text: AsyncIterable[str],
        voice: str,
        segmenter: TextSegmenter,
        sampling: SamplingOverrides | None = None,
    ) -> None:
        self.engine = engine
        self.voice = voice
        self.sampling = sampling
        self.stats = EngineStats()
        self._text = text
        self._segmenter = segmenter
        self._events = self._run()
        self._seconds_per_unit = DEFAULT_SECONDS_PER_UNIT

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EngineEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop: cancel the llama request and decoding; idempotent."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- producer: text -> segments -> tokens -> frames -----------------------------

    async def _produce(
        self,
        jobs: asyncio.Queue[_SegmentJob | _InputDone | _Failure],
        slots: asyncio.Semaphore,
    ) -> None:
        index = 0
        try:
            segments = self._segmenter.segments(self._text, idle_flush_s=self.engine.idle_flush_s)
            async with contextlib.aclosing(segments):
                async for text in segments:
                    await slots.acquire()
                    job = _SegmentJob(index, text)
                    index += 1
                    jobs.put_nowait(job)
                    if not await self._generate(job):
                        return  # the failure is in the job's queue
        except Exception as exc:  # the text stream failed
            jobs.put_nowait(_Failure(exc))
            return
        jobs.put_nowait(_InputDone())

    async def _generate(self, job: _SegmentJob) -> bool:
        """Run one llama request, queueing its frames; False if it failed."""
        parser = OrpheusTokenParser()
        prompt = build_prompt(job.text, self.voice)
        source = self.engine.token_source
        stream = source(prompt) if self.sampling is None else source(prompt, sampling=self.sampling)
        try:
            async for token_id in stream:
                frame = parser.feed_one(token_id)
                if frame is not None:
                    job.frames.put_nowait(frame)
                if parser.ended:
                    break
        except Exception as exc:
            exc.add_note(f"while generating Orpheus segment {job.index}: {job.text[:80]!r}")
            job.frames.put_nowait(_Failure(exc))
            return False
        finally:
            await _close(stream)
        stats = parser.finish()
        limit = self.engine.max_tokens
        truncated = not stats.ended and limit is not None and stats.tokens >= limit
        job.frames.put_nowait(_SegmentEnd(stats, truncated))
        return True

    # -- consumer: frames -> audio and words ------------------------------------------

    async def _run(self) -> AsyncGenerator[EngineEvent]:
        started = time.perf_counter()
        jobs: asyncio.Queue[_SegmentJob | _InputDone | _Failure] = asyncio.Queue()
        slots = asyncio.Semaphore(self.engine.lookahead_segments + 1)
        producer = asyncio.create_task(self._produce(jobs, slots), name="orpheus-producer")
        try:
            while True:
                job = await jobs.get()
                if isinstance(job, _InputDone):
                    break
                if isinstance(job, _Failure):
                    raise job.error
                async with contextlib.aclosing(self._speak(job, started)) as events:
                    async for event in events:
                        yield event
                slots.release()
        finally:
            producer.cancel()
            await asyncio.wait([producer])
            if not producer.cancelled():
                producer.exception()  # retrieved: _produce reports failures in the queues

    async def _speak(self, job: _SegmentJob, started: float) -> AsyncGenerator[EngineEvent]:
        decoder = self.engine.decoder_factory()
        try:
            stats = self.stats
            offset = stats.audio_s
            clock = WordClock(job.text, self._seconds_per_unit)
            produced = 0  # samples of this segment
            end: _SegmentEnd | None = None
            while end is None:
                batch: list[Frame] = []
                item = await job.frames.get()
                while True:
                    if isinstance(item, _Failure):
                        raise item.error
                    if isinstance(item, _SegmentEnd):
                        end = item
                        break
                    batch.append(item)
                    if job.frames.empty() or len(batch) >= self.engine.max_decode_frames:
                        break
                    item = job.frames.get_nowait()
                pcm = await decoder.decode(batch) if batch else None
                if pcm is not None and pcm.size:
                    for event in self._audio(job, clock, pcm, offset, produced, started):
                        yield event
                    produced += pcm.shape[0]
            tail = await decoder.flush()
            if end.stats.frames == 0:
                raise NoAudioError(_no_audio_message(job, end.stats))
            tail_samples = 0 if tail is None else tail.shape[0]
            duration = (produced + tail_samples) / SAMPLE_RATE
            for word, start, stop in clock.finish(duration):
                yield WordTiming(word, offset + start, offset + stop, job.index)
            if tail is not None and tail.size:
                yield self._chunk(job, tail, offset, produced, started)
            if clock.total_weight > 0 and duration > 0:
                measured = duration / clock.total_weight
                self._seconds_per_unit = 0.5 * self._seconds_per_unit + 0.5 * measured
            stats.segments += 1
            stats.tokens.add(end.stats)
            stats.truncated_segments += int(end.truncated)
            yield SegmentDone(job.index, job.text, offset, duration, end.stats, end.truncated)
        finally:
            await _close(decoder)  # releases a decoder left unflushed (cancelled, failed)

    def _audio(
        self,
        job: _SegmentJob,
        clock: WordClock,
        pcm: Pcm,
        offset: float,
        produced: int,
        started: float,
    ) -> list[EngineEvent]:
        covered = (produced + pcm.shape[0]) / SAMPLE_RATE
        events: list[EngineEvent] = [
            WordTiming(word, offset + start, offset + stop, job.index)
            for word, start, stop in clock.advance(covered)
        ]
        events.append(self._chunk(job, pcm, offset, produced, started))
        return events

    def _chunk(
        self, job: _SegmentJob, pcm: Pcm, offset: float, produced: int, started: float
    ) -> AudioChunk:
        stats = self.stats
        if stats.time_to_first_audio_s is None:
            stats.time_to_first_audio_s = time.perf_counter() - started
        stats.audio_s += pcm.shape[0] / SAMPLE_RATE
        return AudioChunk(pcm, offset + produced / SAMPLE_RATE, job.index)


def _no_audio_message(job: _SegmentJob, stats: TokenStats) -> str:
    where = f"segment {job.index} ({job.text[:60]!r})"
    if stats.audio_tokens == 0:
        return (
            f"the model produced no audio tokens for {where}: {stats.tokens} tokens, all "
            "non-audio. Is llama-server running an Orpheus fine-tune, with this prompt format?"
        )
    return (
        f"the model produced no valid audio frame for {where}: {stats.audio_tokens} audio "
        f"tokens, {stats.dropped_frames} frames dropped for out-of-range codes, "
        f"{stats.partial_frames} partial frames"
    )


async def _close(stream: object) -> None:
    """Close a token stream or decoder that has `aclose()`; others need nothing."""
    aclose: Callable[[], object] | None = getattr(stream, "aclose", None)
    if aclose is None:
        return
    result = aclose()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
