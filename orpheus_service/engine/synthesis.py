"""`Synthesis`: one running synthesis of `OrpheusEngine` (see `pipeline` for the design).

A producer task turns the text into segments and runs one llama request per
segment, queueing each segment's frames; the consumer (the iterator) decodes the
frames of one segment after another into audio chunks, word timings and
segment ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Protocol, Self

import numpy as np

from orpheus_service.engine.events import (
    SAMPLE_RATE,
    AudioChunk,
    EngineEvent,
    EngineStats,
    NoAudioError,
    SegmentDone,
    WordTiming,
)
from orpheus_service.engine.frame_decoder import DecoderFactory
from orpheus_service.engine.generation_gate import GenerationGate
from orpheus_service.engine.segmenter import TextSegmenter
from orpheus_service.engine.tokens import OrpheusTokenParser, TokenStats
from orpheus_service.engine.word_aligned_audio import AlignerReading, Released, WordAlignedAudio
from orpheus_service.vocabulary.audio import SAMPLES_PER_FRAME, Pcm
from orpheus_service.vocabulary.prompt import build_prompt
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.token_source import TokenSource
from orpheus_service.vocabulary.tokens import Frame
from unmute.tts.word_timer import MAX_LOOKAHEAD_S, TimedWord, create_word_timer


class SynthesisOptions(Protocol):
    """What a synthesis reads of its engine (OrpheusEngine; see its arguments)."""

    @property
    def token_source(self) -> TokenSource: ...
    @property
    def decoder_factory(self) -> DecoderFactory: ...
    @property
    def lookahead_segments(self) -> int: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def max_decode_frames(self) -> int: ...
    @property
    def idle_flush_s(self) -> float | None: ...
    @property
    def generation_gate(self) -> GenerationGate | None: ...
    @property
    def first_audio_min_s(self) -> float: ...
    @property
    def word_hold_s(self) -> float: ...


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


class Synthesis:
    """One running synthesis: an async iterator of EngineEvent with `stats`.

    Close it with `aclose()` (or `contextlib.aclosing`) to cancel it.
    """

    def __init__(
        self,
        options: SynthesisOptions,
        text: AsyncIterable[str],
        voice: str,
        segmenter: TextSegmenter,
        sampling: SamplingOverrides | None = None,
    ) -> None:
        self.options = options
        self.voice = voice
        self.sampling = sampling
        self.stats = EngineStats()
        self._text = text
        self._segmenter = segmenter
        self._events = self._run()
        self._words = WordAlignedAudio(
            create_word_timer(), min(options.word_hold_s, MAX_LOOKAHEAD_S)
        )
        self._first_audio_at: float | None = None
        self._requests = 0  # llama requests running (0 or 1)
        self._frames = 0  # frames generated, all segments
        self._cushion = _FirstAudioCushion(round(options.first_audio_min_s * SAMPLE_RATE))

    @property
    def generating(self) -> bool:
        """Whether a llama request of this synthesis is running."""
        return self._requests > 0

    def ahead_s(self, now: float) -> float:
        """Audio generated (frames in, decoded or not) minus the time since the first
        audio went out (none yet: nothing has played)."""
        played = 0.0 if self._first_audio_at is None else now - self._first_audio_at
        return self._frames * SAMPLES_PER_FRAME / SAMPLE_RATE - played

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EngineEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop: cancel the llama request and decoding; idempotent."""
        await self._events.aclose()

    # -- producer: text -> segments -> tokens -> frames -----------------------------

    async def _produce(
        self,
        jobs: asyncio.Queue[_SegmentJob | _InputDone | _Failure],
        slots: asyncio.Semaphore,
    ) -> None:
        index = 0
        try:
            segments = self._segmenter.segments(self._text, idle_flush_s=self.options.idle_flush_s)
            async with contextlib.aclosing(segments):
                async for text in segments:
                    await slots.acquire()
                    gate = self.options.generation_gate
                    if gate is not None and index > 0:
                        self.stats.gate_wait_s += await gate.wait_turn(self)
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
        source = self.options.token_source
        stream = source(prompt) if self.sampling is None else source(prompt, sampling=self.sampling)
        self._requests += 1
        try:
            async for token_id in stream:
                frame = parser.feed_one(token_id)
                if frame is not None:
                    job.frames.put_nowait(frame)
                    self._frames += 1
                if parser.ended:
                    break
        except Exception as exc:
            exc.add_note(f"while generating Orpheus segment {job.index}: {job.text[:80]!r}")
            job.frames.put_nowait(_Failure(exc))
            return False
        finally:
            self._requests -= 1
            await _close(stream)
        stats = parser.finish()
        limit = self.options.max_tokens
        truncated = not stats.ended and limit is not None and stats.tokens >= limit
        job.frames.put_nowait(_SegmentEnd(stats, truncated))
        return True

    # -- consumer: frames -> audio and words ------------------------------------------

    async def _run(self) -> AsyncGenerator[EngineEvent]:
        started = time.perf_counter()
        jobs: asyncio.Queue[_SegmentJob | _InputDone | _Failure] = asyncio.Queue()
        slots = asyncio.Semaphore(self.options.lookahead_segments + 1)
        gate = self.options.generation_gate
        if gate is not None:
            gate.join(self)
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
            if gate is not None:
                gate.leave(self)
            producer.cancel()
            await asyncio.wait([producer])
            if not producer.cancelled():
                producer.exception()  # retrieved: _produce reports failures in the queues

    async def _speak(self, job: _SegmentJob, started: float) -> AsyncGenerator[EngineEvent]:
        decoder = self.options.decoder_factory()
        reading = AlignerReading(self._words, job.text.split())
        try:
            stats = self.stats
            offset = stats.audio_s
            if self._words.hold_samples:  # audio waits for the aligner: start it at once
                reading.start()
            sent = 0  # samples of this segment sent
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
                    if job.frames.empty() or len(batch) >= self.options.max_decode_frames:
                        break
                    item = job.frames.get_nowait()
                pcm = await decoder.decode(batch) if batch else None
                if pcm is not None and pcm.size:
                    pcm = self._cushion.take(pcm)
                if pcm is not None and pcm.size:
                    async for event in self._aligned(job, pcm, reading, offset, sent, started):
                        yield event
                        if isinstance(event, AudioChunk):
                            sent += event.pcm.shape[0]
            tail = self._cushion.release(await decoder.flush())
            if end.stats.frames == 0:
                raise NoAudioError(_no_audio_message(job, end.stats))
            if tail is not None and tail.size:
                async for event in self._aligned(job, tail, reading, offset, sent, started):
                    yield event
                    if isinstance(event, AudioChunk):
                        sent += event.pcm.shape[0]
            await reading.start()
            finished = await asyncio.to_thread(self._words.finish)
            for event in self._timed(job, finished, offset, sent, started):
                yield event
                if isinstance(event, AudioChunk):
                    sent += event.pcm.shape[0]
            duration = sent / SAMPLE_RATE
            stats.segments += 1
            stats.tokens.add(end.stats)
            stats.truncated_segments += int(end.truncated)
            yield SegmentDone(job.index, job.text, offset, duration, end.stats, end.truncated)
        finally:
            reading.cancel()
            await _close(decoder)  # releases a decoder left unflushed (cancelled, failed)

    async def _aligned(
        self,
        job: _SegmentJob,
        pcm: Pcm,
        reading: AlignerReading,
        offset: float,
        sent: int,
        started: float,
    ) -> AsyncGenerator[EngineEvent]:
        """`pcm` and the words its alignment decides, the aligner off the event loop.
        With no word hold the audio goes out first and its timing follows (the segment's
        reading starts after its first audio, so it never competes with the decode of
        the first chunk); else as WordAlignedAudio releases them."""
        audio_first = self._words.hold_samples == 0
        if audio_first:
            yield self._chunk(job, pcm, offset, sent, started)
        await reading.start()
        released = await asyncio.to_thread(self._words.push, pcm)
        if audio_first:  # the audio WordAlignedAudio releases went out above
            released = [item for item in released if isinstance(item, TimedWord)]
        for event in self._timed(job, released, offset, sent, started):
            yield event

    def _timed(
        self,
        job: _SegmentJob,
        released: Released,
        offset: float,
        sent: int,
        started: float,
    ) -> list[EngineEvent]:
        """Words and audio as WordAlignedAudio released them."""
        events: list[EngineEvent] = []
        for item in released:
            if isinstance(item, TimedWord):
                events.append(WordTiming(item.text, item.start_s, item.stop_s, job.index))
            else:
                events.append(self._chunk(job, item, offset, sent, started))
                sent += item.shape[0]
        return events

    def _chunk(
        self, job: _SegmentJob, pcm: Pcm, offset: float, produced: int, started: float
    ) -> AudioChunk:
        stats = self.stats
        if stats.time_to_first_audio_s is None:
            self._first_audio_at = time.perf_counter()
            stats.time_to_first_audio_s = self._first_audio_at - started
        stats.audio_s += pcm.shape[0] / SAMPLE_RATE
        return AudioChunk(pcm, offset + produced / SAMPLE_RATE, job.index)


class _FirstAudioCushion:
    """Holds a synthesis's first audio back until `min_samples` of it are ready (or its
    first segment ends), so that a listener who starts playing at the first chunk holds
    more than the time the next chunk takes to come."""

    def __init__(self, min_samples: int) -> None:
        self.min_samples = min_samples
        self._held: list[Pcm] = []
        self._done = min_samples <= 0

    def take(self, pcm: Pcm) -> Pcm | None:
        """`pcm` to emit now (with what was held before it), or None while held."""
        if self._done:
            return pcm
        self._held.append(pcm)
        if sum(part.shape[0] for part in self._held) < self.min_samples:
            return None
        return self.release(None)

    def release(self, pcm: Pcm | None) -> Pcm | None:
        """Everything held, followed by `pcm`: the segment ended, nothing more to wait for."""
        self._done = True
        if not self._held:
            return pcm
        parts = [*self._held, *([pcm] if pcm is not None else [])]
        self._held = []
        return np.concatenate(parts)


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
