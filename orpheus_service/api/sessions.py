"""Sessions: capacity, metrics, error mapping and text feeds shared by every endpoint.

A `Session` holds one of `max_sessions` channels for one synthesis. It records
time to first audio (when the transport reports the first audio sent), the
real-time factor of a finished synthesis, dropped frames, and cancellations
(client gone, error, shutdown). `close()` always cancels a synthesis still
running, which closes its llama request; called from another task (shutdown),
it first cancels the task iterating the synthesis, since a running async
generator cannot be closed from outside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx

from orpheus_service.engine.pipeline import EngineEvent, EngineStats, NoAudioError, OrpheusEngineError
from orpheus_service.llama.client import (
    LlamaProtocolError,
    LlamaServerError,
    LlamaTimeoutError,
    LlamaUnavailableError,
    SamplingOverrides,
)
from orpheus_service.engine.prompt import UnknownVoiceError
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.settings import OrpheusSettings

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
NO_FREE_CHANNELS = "no free channels"
Outcome = Literal["done", "client_gone", "error", "shutdown"]


class SpeechSynthesis(Protocol):
    """A running synthesis (OrpheusEngine's `Synthesis`)."""

    stats: EngineStats

    def __aiter__(self) -> AsyncIterator[EngineEvent]: ...

    async def aclose(self) -> None: ...


class SpeechEngine(Protocol):
    """What the service needs of OrpheusEngine."""

    def synthesize(
        self,
        text: str | AsyncIterable[str],
        *,
        voice: str | None = None,
        sampling: SamplingOverrides | None = None,
    ) -> SpeechSynthesis: ...


class ServiceError(Exception):
    """An error with the HTTP status and code to report to the client."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class CapacityError(ServiceError):
    """Every channel is busy."""

    def __init__(self) -> None:
        super().__init__(429, "no_free_channels", NO_FREE_CHANNELS)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify_error(exc: BaseException) -> ServiceError:
    """The client-facing error for a failure of the engine or llama-server."""
    for err in _chain(exc):
        if isinstance(err, ServiceError):
            return err
        if isinstance(err, UnknownVoiceError):
            return ServiceError(400, "unknown_voice", str(err))
        if isinstance(err, LlamaTimeoutError | TimeoutError | httpx.TimeoutException):
            return ServiceError(504, "llama_timeout", f"llama-server stalled: {err}")
        if isinstance(err, LlamaUnavailableError | httpx.ConnectError | ConnectionError):
            return ServiceError(503, "llama_unavailable", f"llama-server unavailable: {err}")
        if isinstance(err, LlamaProtocolError):
            return ServiceError(502, "llama_bad_response", f"bad answer from llama-server: {err}")
        if isinstance(err, LlamaServerError | httpx.HTTPError):
            return ServiceError(502, "llama_error", f"llama-server failed: {err}")
        if isinstance(err, NoAudioError):
            return ServiceError(502, "no_audio", str(err))
        if isinstance(err, OrpheusEngineError):
            return ServiceError(502, "engine_error", str(err))
    return ServiceError(500, "internal_error", f"synthesis failed: {type(exc).__name__}: {exc}")


class SessionLimiter:
    """At most `capacity` sessions at a time; acquiring never waits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0

    def try_acquire(self) -> bool:
        """Take a channel if one is free."""
        if self.active >= self.capacity:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        """Give a channel back."""
        self.active = max(0, self.active - 1)


@dataclass
class ServiceContext:
    """Everything the routes share."""

    settings: OrpheusSettings
    engine: SpeechEngine
    metrics: ServiceMetrics
    limiter: SessionLimiter
    check_llama: Callable[[], Awaitable[str | None]]
    """None when llama-server answers, else why not."""
    snac_ready: Callable[[], bool]
    sessions: set[Session] = field(default_factory=lambda: set[Session]())

    async def shutdown(self) -> None:
        """Cancel every running session."""
        for session in list(self.sessions):
            await session.close("shutdown")


class Session:
    """One synthesis holding one channel; close it exactly once (idempotent)."""

    def __init__(self, ctx: ServiceContext, endpoint: str) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.synthesis: SpeechSynthesis | None = None
        self.first_audio_s: float | None = None
        self.audio_samples = 0
        self.closed = False
        self._finished = False
        self._consumer: asyncio.Task[object] | None = None
        """The task iterating `events()` last (None when not iterating)."""

    @classmethod
    def open(cls, ctx: ServiceContext, endpoint: str) -> Session:
        """Take a channel, or raise CapacityError."""
        if not ctx.limiter.try_acquire():
            ctx.metrics.rejected_sessions.inc()
            raise CapacityError()
        session = cls(ctx, endpoint)
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
        """The synthesis's events; failures come out as ServiceError."""
        assert self.synthesis is not None, "start() first"
        try:
            self._consumer = asyncio.current_task()
            async for event in self.synthesis:
                yield event
                self._consumer = asyncio.current_task()  # HTTP hands the stream on to a pump
        except (ServiceError, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = classify_error(exc)
            log.warning("%s synthesis failed: %s", self.endpoint, exc)
            self.ctx.metrics.errors.labels(error.code).inc()
            raise error from exc
        finally:
            self._consumer = None
        if self.closed:  # closed from outside (shutdown): the audio was cut short
            raise ServiceError(503, "shutting_down", "the service is shutting down")
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
            self.ctx.limiter.release()
            metrics.active_sessions.dec()
        stats = self.synthesis.stats if self.synthesis is not None else None
        if stats is not None:
            metrics.dropped_frames.inc(stats.dropped_frames)
        audio_s = self.audio_samples / SAMPLE_RATE
        metrics.audio_seconds.inc(audio_s)
        if outcome == "done" and audio_s > 0:
            wall = time.perf_counter() - self.started
            metrics.real_time_factor.labels(self.endpoint).observe(wall / audio_s)
        elif outcome != "done" and self.synthesis is not None and not self._finished:
            metrics.cancelled_generations.labels(outcome).inc()


class TextFeed:
    """An async stream of text deltas fed by a WebSocket reader."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._words = 0

    @property
    def ended(self) -> bool:
        """`end()` was called."""
        return self._ended

    def push_words(self, text: str) -> None:
        """Add one client Text message; its words are kept apart from the previous ones."""
        if self._ended:
            return
        words = text.split()
        if words:
            self._words += len(words)
            self._queue.put_nowait(" ".join(words) + " ")

    def end(self) -> None:
        """No more text."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item
