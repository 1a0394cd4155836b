"""`Session`: one synthesis holding one of the service's channels.

A session records time to first audio (when the transport reports the first audio
sent), the real-time factor of a finished synthesis, dropped frames, and
cancellations (client gone, error, shutdown). `close()` always cancels a synthesis
still running, which closes its llama request; called from another task (shutdown),
it first cancels the task iterating the synthesis, since a running async generator
cannot be closed from outside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator

from starlette.requests import HTTPConnection

from orpheus_service.api.context import Outcome, ServiceContext
from orpheus_service.api.errors import ApiError, CapacityError, classify_error
from orpheus_service.api.sessions.limiter import Refusal
from orpheus_service.api.speech import SpeechSynthesis
from orpheus_service.engine.events import EngineEvent
from orpheus_service.vocabulary.sampling import SamplingOverrides
from unmute.tts.protocol import SAMPLE_RATE

log = logging.getLogger(__name__)


class Session:
    """One synthesis holding one channel; close it exactly once (idempotent)."""

    def __init__(self, ctx: ServiceContext, endpoint: str, client: str | None = None) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.client = client
        """The peer's address: its channel counts against ORPHEUS_MAX_SESSIONS_PER_CLIENT."""
        self.started = time.perf_counter()
        self.synthesis: SpeechSynthesis | None = None
        self.first_audio_s: float | None = None
        self.audio_samples = 0
        self.closed = False
        self._finished = False
        self._consumer: asyncio.Task[object] | None = None
        """The task iterating `events()` last (None when not iterating)."""

    @classmethod
    def open(cls, ctx: ServiceContext, endpoint: str, conn: HTTPConnection) -> Session:
        """Take a channel for the client of `conn`, or raise CapacityError."""
        client = conn.client.host if conn.client is not None else None
        refusal = ctx.limiter.try_acquire(client)
        if refusal is not None:
            ctx.metrics.rejected_sessions.labels(refusal.name.lower()).inc()
            if refusal is Refusal.FULL:
                raise CapacityError()
            limit = ctx.limiter.per_client
            raise CapacityError(
                f"this client already holds {limit} (ORPHEUS_MAX_SESSIONS_PER_CLIENT)"
            )
        session = cls(ctx, endpoint, client)
        ctx.sessions.add(session)
        ctx.metrics.active_sessions.inc()
        return session

    def start(
        self,
        text: str | AsyncIterable[str],
        voice: str | None,
        sampling: SamplingOverrides | None = None,
    ) -> SpeechSynthesis:
        """Start the synthesis (raises UnknownVoiceError at once); `sampling` overrides
        the service's sampling settings for this session only."""
        if sampling is None:
            self.synthesis = self.ctx.engine.synthesize(text, voice=voice)
        else:
            self.synthesis = self.ctx.engine.synthesize(text, voice=voice, sampling=sampling)
        return self.synthesis

    async def events(self) -> AsyncIterator[EngineEvent]:
        """The synthesis's events; failures come out as ApiError."""
        assert self.synthesis is not None, "start() first"
        try:
            self._consumer = asyncio.current_task()
            async for event in self.synthesis:
                yield event
                self._consumer = asyncio.current_task()  # HTTP hands the stream on to a pump
        except (ApiError, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = classify_error(exc)
            log.warning("%s synthesis failed: %s", self.endpoint, exc)
            self.ctx.metrics.errors.labels(error.code).inc()
            raise error from exc
        finally:
            self._consumer = None
        if self.closed:  # closed from outside (shutdown): the audio was cut short
            raise ApiError(503, "shutting_down", "the service is shutting down")
        self._finished = True

    def audio_sent(self, samples: int) -> None:
        """The transport sent `samples` of audio to the client."""
        if self.first_audio_s is None and samples > 0:
            self.first_audio_s = time.perf_counter() - self.started
            self.ctx.metrics.time_to_first_audio.labels(self.endpoint).observe(self.first_audio_s)
        self.audio_samples += samples

    async def close(self, outcome: Outcome) -> None:
        """Stop the synthesis if still running, record metrics, free the channel."""
        if self.closed:
            return
        self.closed = True
        metrics = self.ctx.metrics
        try:
            consumer = self._consumer
            if consumer is not None and consumer is not asyncio.current_task():
                consumer.cancel()  # its synthesis generator may be running: stop it there
                await asyncio.wait([consumer])
            if self.synthesis is not None:
                await self.synthesis.aclose()
        finally:
            self.ctx.sessions.discard(self)
            self.ctx.limiter.release(self.client)
            metrics.active_sessions.dec()
        stats = self.synthesis.stats if self.synthesis is not None else None
        if stats is not None:
            metrics.dropped_frames.inc(stats.dropped_frames)
            metrics.yield_wait_seconds.inc(stats.gate_wait_s)
        audio_s = self.audio_samples / SAMPLE_RATE
        metrics.audio_seconds.inc(audio_s)
        if outcome == "done" and audio_s > 0:
            wall = time.perf_counter() - self.started
            metrics.real_time_factor.labels(self.endpoint).observe(wall / audio_s)
        elif outcome != "done" and self.synthesis is not None and not self._finished:
            metrics.cancelled_generations.labels(outcome).inc()
