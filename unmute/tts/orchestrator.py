"""The Orchestrator: LLM text deltas in, speech out to a sink, interruptible.

It knows only the `TextToSpeech` protocol and the registry, never a concrete
backend: the backend is whatever `UNMUTE_TTS_BACKEND` (or the default rule) names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from unmute.tts.pacing import Pacer, paced
from unmute.tts.protocol import (
    FloatArray,
    OutputMessage,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSTextMessage,
)
from unmute.tts.registry import chain_specs, create_tts, resolve_backend_name
from unmute.tts.settings import TTSSettings, load_settings

logger = logging.getLogger(__name__)


class SpeechSink(Protocol):
    """Where the Orchestrator delivers speech (a WebRTC track, a file, a test list)."""

    async def audio(self, pcm: FloatArray) -> None:
        """A chunk of float32 mono 24 kHz audio."""
        ...

    async def word(self, word: TTSTextMessage) -> None:
        """A word as it is spoken, with its time in the audio."""
        ...


@dataclass
class SpeechResult:
    """What one `speak` call did."""

    backend: str
    """The backend that spoke (of a chain: the member whose audio the sink got)."""
    voice: str | None
    ttfa_s: float | None = None
    """First text sent to the backend until its first audio."""
    audio_s: float = 0.0
    words: list[str] = field(default_factory=lambda: list[str]())
    """The words delivered to the sink (what the listener heard)."""
    wall_s: float = 0.0
    interrupted: bool = False
    error: str | None = None

    @property
    def rtf(self) -> float | None:
        """Real-time factor: wall time from first text to the end over audio seconds."""
        return self.wall_s / self.audio_s if self.audio_s > 0 else None


def split_words(buffer: str) -> tuple[list[str], str]:
    """Complete words in `buffer` and the unfinished tail (text after the last space)."""
    cut = max(buffer.rfind(" "), buffer.rfind("\n"), buffer.rfind("\t"))
    if cut < 0:
        return [], buffer
    return buffer[:cut].split(), buffer[cut + 1 :]


class Orchestrator:
    """Feeds a backend word by word from LLM deltas and hands speech to a sink."""

    def __init__(
        self,
        sink: SpeechSink,
        *,
        backend: str | None = None,
        voice: str | None = None,
        settings: TTSSettings | None = None,
        tts_factory: Callable[[], TextToSpeech] | None = None,
        pace_ahead_s: float | None = None,
    ) -> None:
        self.sink = sink
        self.settings = settings or load_settings(TTSSettings)
        self.backend = backend or resolve_backend_name(self.settings)[0]
        self.voice = voice or self.settings.tts_voice
        self._factory = tts_factory or (lambda: create_tts(self.backend, self.voice, self.settings))
        self.pace_ahead_s = pace_ahead_s
        """If set, release audio at most this far ahead of real time (unmute uses 0.32 s)
        and each word when its audio plays (`unmute.tts.pacing`)."""
        self._tts: TextToSpeech | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._interrupted = False

    async def prewarm(self) -> None:
        """Wake the backend (each of a chain; e.g. a cold-starting service) before speech
        is needed."""
        warmups = [spec.prewarm() for spec in chain_specs(self.backend) if spec.prewarm]
        await asyncio.gather(*warmups)

    async def speak(self, deltas: AsyncIterable[str]) -> SpeechResult:
        """Speak the text streamed in `deltas` until it ends or `interrupt()` is called."""
        result = SpeechResult(backend=self.backend, voice=self.voice)
        self._interrupted = False
        tts = self._factory()
        self._tts = tts
        clock: dict[str, float] = {}
        try:
            await tts.start_up()
            if not self._interrupted:
                await self._run(tts, deltas, result, clock)
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
        except Exception as exc:
            result.error = str(exc)
            logger.warning("speech failed: %s", exc)
        finally:
            await self._stop_tasks()
            await tts.shutdown()
            self._tts = None
        result.backend = getattr(tts, "speaker", None) or result.backend
        first_text = clock.get("first_text")
        if first_text is not None:
            result.wall_s = time.monotonic() - first_text
        result.interrupted = self._interrupted
        return result

    async def interrupt(self) -> None:
        """Stop speaking now: no audio reaches the sink after this returns."""
        self._interrupted = True
        await self._stop_tasks()
        if self._tts is not None:
            await self._tts.shutdown()

    async def _run(
        self,
        tts: TextToSpeech,
        deltas: AsyncIterable[str],
        result: SpeechResult,
        clock: dict[str, float],
    ) -> None:
        feeder = asyncio.create_task(self._feed(tts, deltas, clock), name="tts-feeder")
        consumer = asyncio.create_task(self._consume(tts, result, clock), name="tts-consumer")
        self._tasks = [feeder, consumer]
        await asyncio.wait((feeder, consumer), return_when=asyncio.FIRST_COMPLETED)
        if feeder.done():
            feeder.result()  # the LLM stream's failure, if any
        # The speech ends with the backend's stream, even if the LLM is still writing
        # (after an error): the caller's `finally` then stops the feeder.
        await consumer

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _feed(
        self, tts: TextToSpeech, deltas: AsyncIterable[str], clock: dict[str, float]
    ) -> None:
        buffer = ""
        async for delta in deltas:
            words, buffer = split_words(buffer + delta)
            for word in words:
                clock.setdefault("first_text", time.monotonic())
                await tts.send(word)
        for word in buffer.split():
            clock.setdefault("first_text", time.monotonic())
            await tts.send(word)
        await tts.send(TTSClientEosMessage())

    async def _consume(
        self, tts: TextToSpeech, result: SpeechResult, clock: dict[str, float]
    ) -> None:
        messages = self._timed(tts, result, clock)
        if self.pace_ahead_s is not None:
            messages = paced(messages, Pacer(self.pace_ahead_s))
        async with contextlib.aclosing(messages):
            async for message in messages:
                if self._interrupted:
                    return
                if isinstance(message, TTSAudioMessage):
                    await self.sink.audio(message.pcm)
                    result.audio_s += message.duration_s
                elif isinstance(message, TTSTextMessage):
                    await self.sink.word(message)
                    result.words.append(message.text)
                else:
                    result.error = message.message
                    return

    @staticmethod
    async def _timed(
        tts: TextToSpeech, result: SpeechResult, clock: dict[str, float]
    ) -> AsyncGenerator[OutputMessage, None]:
        """The backend's messages, noting the time to first audio as it arrives."""
        async for message in tts:
            if isinstance(message, TTSAudioMessage) and result.ttfa_s is None:
                now = time.monotonic()
                result.ttfa_s = now - clock.get("first_text", now)
            yield message
