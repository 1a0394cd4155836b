"""A drop-in for unmute's `unmute.tts.text_to_speech` that speaks through any backend.

In unmute's `unmute/unmute_handler.py`, change one import line::

    -from unmute.tts.text_to_speech import (
    +from unmute.tts.pluggable import (

and unmute speaks through the backend `UNMUTE_TTS_BACKEND` names, or through a fallback
chain of them (`orpheus,espeak`, see `unmute.tts.fallback`). Unset inside unmute,
the backend is `kyutai` at the instance unmute's discovery hands over, so the change
alone changes nothing for an existing deployment.

`TextToSpeech` keeps upstream's constructor, `voice`, `state()`, `received_samples`
and `received_samples_yielded`, and upstream's pacing: audio released
`AUDIO_BUFFER_SEC` (0.32 s) ahead of real time and each word at its `start_s`, on the
handler's `get_time` clock, so the chat history after an interruption holds the
words heard so far. `start_up` returns within unmute's 0.5 s even when the backend
needs longer (a Modal cold start): words sent meanwhile are kept and spoken once it
is ready; a backend that never gets ready ends the stream with a `TTSErrorMessage`.
A capacity refusal seen during that first wait raises upstream's
`MissingServiceAtCapacity`, so discovery tries another instance.

Inside unmute, upstream's `worker_tts_*` Prometheus metrics count as its own client
counts them, and the recorder gets its `UnmuteResponseAudioDeltaReady` events.

The handler's voice (a character's) goes to the backend (a chain's first) unless the
backend lists its voices and that one is not among them (a Kyutai voice path sent to Orpheus): then
`UNMUTE_TTS_VOICE`, or the backend's default voice, speaks instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from unmute.tts import upstream
from unmute.tts.base import AtCapacityError, prepare_text_for_tts
from unmute.tts.pacing import UNMUTE_AHEAD_S, Pacer, paced
from unmute.tts.protocol import (
    SAMPLE_RATE,
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSReadyMessage,
    TTSState,
    TTSTextMessage,
)
from unmute.tts.protocol import TextToSpeech as Backend
from unmute.tts.registry import chain_names, create_tts, get_backend, resolve_backend_name
from unmute.tts.settings import TTSSettings, load_settings

__all__ = [
    "AUDIO_BUFFER_SEC",
    "TTSAudioMessage",
    "TTSClientEosMessage",
    "TTSClientTextMessage",
    "TTSErrorMessage",
    "TTSReadyMessage",
    "TTSTextMessage",
    "TextToSpeech",
    "prepare_text_for_tts",
]

logger = logging.getLogger(__name__)

AUDIO_BUFFER_SEC: Final = UNMUTE_AHEAD_S
"""Audio is released this far ahead of real time (upstream: 4 frames of 80 ms)."""
STARTUP_WAIT_S: Final = 0.3
"""How long `start_up` waits for the backend before returning (unmute allows 0.5 s)."""
STARTUP_GRACE_S: Final = 1.0
"""Added to the backend's own start-up budget before this client gives up on it."""
DEFAULT_BACKEND_INSIDE_UNMUTE: Final = "kyutai"


class TextToSpeech:
    """unmute's TTS client, speaking through a registered backend (`UNMUTE_TTS_BACKEND`).

    Driven as unmute's handler drives its own client: `await start_up()`,
    `await send(word)` per word, `await send(TTSClientEosMessage())`, `async for msg
    in tts`, `await shutdown()` (idempotent). `backend`, `settings` and `tts_factory`
    (a callable making the backend session) are extras for use outside unmute.
    """

    def __init__(
        self,
        tts_instance: str | None = None,
        recorder: Any = None,
        get_time: Callable[[], float] | None = None,
        voice: str | None = None,
        *,
        backend: str | None = None,
        settings: TTSSettings | None = None,
        tts_factory: Callable[[], Backend] | None = None,
    ) -> None:
        self.tts_instance = tts_instance
        self.recorder = recorder
        self.get_time = get_time
        self.voice = voice
        self.received_samples = 0
        """Samples received from the backend."""
        self.received_samples_yielded = 0
        """Samples released to the consumer after pacing."""
        self.backend_name = backend
        self._settings = settings
        self._factory = tts_factory
        self._tts: Backend | None = None
        self._state: TTSState = "not_created"
        self._input: asyncio.Queue[TTSClientTextMessage | TTSClientEosMessage] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._startup_error: str | None = None
        self._send_error: str | None = None
        self._startup_task: asyncio.Task[None] | None = None
        self._pacer: Pacer[OutputMessage] | None = None
        self._first_text_at: float | None = None
        self._first_audio_seen = False
        self._active_counted = False
        self._shutdown_lock = asyncio.Lock()
        self._closed = False

    # -- the client contract ----------------------------------------------------------

    def state(self) -> TTSState:
        """not_created, connecting (until the backend is ready), connected, closing, closed."""
        return self._state

    async def start_up(self) -> None:
        """Start the backend; return once it is ready or after STARTUP_WAIT_S at most.

        Raises upstream's `MissingServiceAtCapacity` (inside unmute) when the backend
        refuses for lack of capacity meanwhile; any other failure ends the stream
        with a TTSErrorMessage instead of raising.
        """
        if self._state != "not_created":
            raise RuntimeError(f"start_up() called in state {self._state!r}")
        self._state = "connecting"
        task = asyncio.create_task(self._bring_up(), name="pluggable-tts-start-up")
        self._startup_task = task
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_WAIT_S
        ready = asyncio.create_task(self._ready.wait(), name="pluggable-tts-ready")
        try:  # back as soon as the backend is ready; a look for a refusal every 20 ms
            while not self._ready.is_set() and (remaining := deadline - loop.time()) > 0:
                if self._refused_for_capacity():
                    break
                await asyncio.wait(
                    {task, ready}, timeout=min(remaining, 0.02), return_when="FIRST_COMPLETED"
                )
        except BaseException:  # cancelled by discovery's timeout: release the backend
            await self._abandon()
            raise
        finally:
            ready.cancel()
        if self._refused_for_capacity():
            at_capacity = upstream.at_capacity_error("tts")
            if at_capacity is not None:
                logger.info("TTS %s is at capacity; discovery may try another", self.backend_name)
                await self._abandon()
                raise at_capacity

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        """Send a word (cleaned like upstream's) or the end of the text.

        Before the backend is ready the message is kept and sent once it is.
        """
        if isinstance(message, str):
            message = TTSClientTextMessage(text=prepare_text_for_tts(message))
        if self._closed:
            logger.warning("Can't send - TTS shutting down")
            return
        if self._state == "not_created":
            logger.warning("Can't send - TTS not started")
            return
        if isinstance(message, TTSClientTextMessage):
            if message.text == "":
                return
            _metric("TTS_SENT_FRAMES", "inc")
            if self._first_text_at is None:
                self._first_text_at = time.monotonic()
        self._input.put_nowait(message)

    async def __aiter__(self) -> AsyncIterator[OutputMessage]:
        if self._state == "not_created":
            raise RuntimeError("TTS not started: call start_up() first")
        if not self._active_counted:
            self._active_counted = True
            _metric("TTS_SESSIONS", "inc")
            _metric("TTS_ACTIVE_SESSIONS", "inc")
        pacer: Pacer[OutputMessage] = Pacer(AUDIO_BUFFER_SEC, self.get_time)
        self._pacer = pacer
        if self._closed:
            pacer.cancel()
        async with contextlib.aclosing(paced(self._received(), pacer)) as messages:
            async for message in messages:
                if self._closed:
                    break
                if isinstance(message, TTSAudioMessage):
                    self.received_samples_yielded += len(message.pcm)
                yield message
                if isinstance(message, TTSErrorMessage):
                    break
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop at once, release the backend, observe the session's metrics. Idempotent."""
        async with self._shutdown_lock:
            if self._closed:
                return
            self._closed = True
            self._state = "closing"
            if self._active_counted:
                _metric("TTS_ACTIVE_SESSIONS", "dec")
            _metric("TTS_AUDIO_DURATION", "observe", self.received_samples / SAMPLE_RATE)
            if self._first_text_at is not None:
                _metric("TTS_GEN_DURATION", "observe", time.monotonic() - self._first_text_at)
            if self._pacer is not None:
                self._pacer.cancel()
            await self._release()
            self._state = "closed"
            logger.info("TTS shutdown() finished")

    # -- internals --------------------------------------------------------------------

    async def _make_backend(self) -> Backend:
        """The backend session; a backend's voice list is read off the loop (it may load
        a library)."""
        if self._factory is not None:
            self.backend_name = self.backend_name or "custom"
            return self._factory()
        settings = self._settings = self._settings or load_settings(TTSSettings)
        name = self.backend_name or settings.tts_backend
        if name is None:
            if upstream.inside_unmute():
                name = DEFAULT_BACKEND_INSIDE_UNMUTE
            else:
                name = resolve_backend_name(settings)[0]
        self.backend_name = name
        first_name = chain_names(name)[0]
        first = get_backend(first_name)
        voice = self.voice
        if voice is not None:
            voices = await asyncio.to_thread(first.voices)
            voice = self._backend_voice(voice, first_name, voices, settings.tts_voice)
        return create_tts(name, voice, settings, instance=self.tts_instance)

    @staticmethod
    def _backend_voice(
        voice: str, backend: str, voices: list[str], fallback: str | None
    ) -> str | None:
        """`voice` if the backend has it (or does not list its voices), else `fallback`."""
        if voices and voice not in voices:
            logger.info(
                "voice %r is not a voice of the %s backend; using %s",
                voice,
                backend,
                repr(fallback) if fallback else "its default (UNMUTE_TTS_VOICE is unset)",
            )
            return fallback
        return voice

    async def _bring_up(self) -> None:
        try:
            tts = await self._make_backend()
        except Exception as exc:
            self._fail_startup(f"cannot create the TTS backend {self.backend_name or ''}: {exc}")
            return
        self._tts = tts
        settings = self._settings or load_settings(TTSSettings)
        budget = settings.tts_startup_timeout_s
        retry = getattr(tts, "retry", None)
        budget = max(budget, float(getattr(retry, "budget_s", budget))) + STARTUP_GRACE_S
        try:
            async with asyncio.timeout(budget):
                await tts.start_up()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self._fail_startup(f"{self.backend_name}: not ready within {budget:g} s")
            return
        except Exception as exc:
            named = str(exc).startswith(f"{self.backend_name}:")  # the base names it already
            self._fail_startup(str(exc) if named else f"{self.backend_name}: {exc}")
            return
        if tts.state() != "connected":
            self._fail_startup(f"{self.backend_name}: closed during start-up")
            return
        if not self._closed:
            self._state = "connected"
        self._ready.set()
        while True:  # forward the words, those kept while starting first
            message = await self._input.get()
            try:
                await tts.send(message)
            except Exception as exc:  # a backend breaking its contract: end its stream
                logger.exception("TTS %s: send failed", self.backend_name)
                self._send_error = f"{self.backend_name}: send failed: {exc}"
                await tts.shutdown()
                return
            if isinstance(message, TTSClientEosMessage):
                return

    def _fail_startup(self, reason: str) -> None:
        logger.error("TTS start-up failed: %s", reason)
        self._startup_error = reason
        self._ready.set()

    def _refused_for_capacity(self) -> bool:
        errors: list[Exception] = getattr(self._tts, "startup_errors", [])
        return any(isinstance(error, AtCapacityError) for error in errors)

    async def _received(self) -> AsyncIterator[OutputMessage]:
        """The backend's messages as they arrive, counted; an Error if it never started."""
        await self._ready.wait()
        tts = self._tts
        if self._closed:
            return
        if self._startup_error is not None or tts is None:
            yield TTSErrorMessage(message=self._startup_error or "no TTS backend")
            return
        try:
            async for message in tts:
                if isinstance(message, TTSAudioMessage):
                    await self._on_audio(message)
                elif isinstance(message, TTSTextMessage):
                    _metric("TTS_RECV_WORDS", "inc")
                    if message.text == "":
                        continue
                else:
                    logger.warning("TTS %s: %s", self.backend_name, message.message)
                yield message
        except Exception as exc:  # a backend breaking its contract: end the stream
            logger.exception("TTS %s failed", self.backend_name)
            yield TTSErrorMessage(message=f"{self.backend_name}: {exc}")
            return
        if self._send_error is not None:
            yield TTSErrorMessage(message=self._send_error)

    async def _on_audio(self, message: TTSAudioMessage) -> None:
        _metric("TTS_RECV_FRAMES", "inc")
        if not self._first_audio_seen and self._first_text_at is not None:
            self._first_audio_seen = True
            ttft = time.monotonic() - self._first_text_at
            _metric("TTS_TTFT", "observe", ttft)
            logger.info("Time to first token is %.1f ms", ttft * 1000)
        self.received_samples += len(message.pcm)
        if self.recorder is not None:
            events = upstream.module(upstream.EVENTS)
            event_class = getattr(events, "UnmuteResponseAudioDeltaReady", None)
            if event_class is not None:
                event = event_class(number_of_samples=len(message.pcm))
                await self.recorder.add_event("server", event)

    async def _abandon(self) -> None:
        """Give up during start_up (discovery moves on): release, observe no metrics."""
        self._closed = True
        self._state = "closed"
        await self._release()

    async def _release(self) -> None:
        task, self._startup_task = self._startup_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ready.set()
        tts = self._tts
        if tts is not None:
            try:
                await tts.shutdown()
            except Exception:
                logger.exception("TTS %s: error while shutting down", self.backend_name)


def _metric(name: str, method: str, *args: float) -> None:
    """Call `method` on upstream's metric `name` (unmute.metrics); nothing outside unmute."""
    metric = getattr(upstream.module(upstream.METRICS), name, None)
    if metric is not None:
        getattr(metric, method)(*args)
