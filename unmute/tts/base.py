"""Shared behaviour of every backend: life cycle, retries, metrics, interruption.

A backend subclasses `BaseTextToSpeech` and implements a small surface:

- `_synthesize(text)`: an async generator that reads words from `text` (it ends at
  end-of-stream) and yields `TTSAudioMessage` and `TTSTextMessage` in order;
- optionally `_open()` (connect or load; raise `RetryableError` for failures worth
  retrying, such as a cold-starting server) and `_close()` (release resources).

Everything else lives here once: the state machine, start-up retries inside a time
budget, "no audio for non-empty text is an error", turning a failure into a final
`TTSErrorMessage`, idempotent shutdown that cancels the producer at once, the words
actually delivered (for the chat history after an interruption) and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Final

from unmute.tts import session_metrics as mt
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSState,
    TTSTextMessage,
)
from unmute.tts.settings import TTSSettings, load_settings

logger = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """A backend failed in a way the caller should see."""


class RetryableError(BackendError):
    """A failure before any audio that is worth retrying (cold start, no free channel)."""


class AtCapacityError(RetryableError):
    """The service refused the session for lack of capacity ("no free channels").

    Retried like any RetryableError; unmute's discovery instead tries another
    instance (see `unmute.tts.pluggable`).
    """


@dataclass(frozen=True)
class RetryPolicy:
    """How `start_up` retries `RetryableError`s inside its time budget."""

    budget_s: float = 10.0
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0

    def backoffs(self) -> AsyncIterator[float]:
        """Successive waits, forever (the budget bounds them)."""

        async def generate() -> AsyncIterator[float]:
            delay = self.initial_backoff_s
            while True:
                yield delay
                delay = min(self.max_backoff_s, delay * self.multiplier)

        return generate()


_UNPRONOUNCEABLE = str.maketrans(
    {"*": None, "_": None, "`": None, "“": '"', "”": '"', "‘": "'", "’": "'"}
)


def prepare_text_for_tts(text: str) -> str:
    """Clean a raw LLM word exactly as unmute does (markdown marks, curly quotes)."""
    return text.strip().translate(_UNPRONOUNCEABLE).replace(" : ", " ")


class _End:
    pass


_END: Final = _End()


class BaseTextToSpeech(ABC):
    """Base class implementing the `TextToSpeech` protocol around `_synthesize`."""

    backend_name: ClassVar[str] = "unnamed"

    def __init__(self, voice: str | None = None, *, retry: RetryPolicy | None = None) -> None:
        self.voice = voice
        if retry is None:  # UNMUTE_TTS_STARTUP_TIMEOUT_S is every backend's budget
            retry = RetryPolicy(budget_s=load_settings(TTSSettings).tts_startup_timeout_s)
        self.retry = retry
        self.metrics = mt.TTSMetrics(backend=self.backend_name, voice=voice)
        self.startup_errors: list[RetryableError] = []
        """The failed start-up attempts so far (a capacity refusal is an AtCapacityError)."""
        self.spoken_words: list[TTSTextMessage] = []
        """Words delivered to the consumer, in order (what the listener heard)."""
        self.audio_delivered_s = 0.0
        self._state: TTSState = "not_created"
        self._input: asyncio.Queue[str | None] = asyncio.Queue()
        self._output: asyncio.Queue[OutputMessage | _End] = asyncio.Queue()
        self._eos_sent = False
        self._text_sent = False
        self._pump_task: asyncio.Task[None] | None = None
        self._shutdown_lock = asyncio.Lock()
        self._stopping = False

    # -- backend surface -------------------------------------------------------------

    def _startup_stall(self) -> str:
        """What the attempt cut by the start-up budget was waiting for ("" if unknown)."""
        return ""

    async def _open(self) -> None:  # noqa: B027 - optional hook
        """Connect or load. Raise RetryableError for failures worth retrying."""

    @abstractmethod
    def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        """Read words from `text` until it ends; yield audio and spoken words in order."""

    async def _close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and resources. Called once, also after failures."""

    # -- protocol --------------------------------------------------------------------

    def state(self) -> TTSState:
        """Where the session is: not_created, connecting, connected, closing, closed."""
        return self._state

    async def start_up(self) -> None:
        """Open the backend, retrying RetryableError with backoff inside the budget.

        A `shutdown()` meanwhile stops the retries; start_up then returns with the
        session closed (and closes what `_open` opened).
        """
        if self._state != "not_created":
            raise RuntimeError(f"start_up() called in state {self._state!r}")
        self._state = "connecting"
        deadline = time.monotonic() + self.retry.budget_s
        backoffs = self.retry.backoffs()
        try:
            while not self._stopping:
                remaining = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(max(remaining, 0.0)):
                        await self._open()
                    break
                except RetryableError as exc:
                    self.startup_errors.append(exc)
                    wait = await anext(backoffs)
                    if time.monotonic() + wait >= deadline:
                        budget = f"{self.retry.budget_s:g} s"
                        raise BackendError(
                            f"{self.backend_name}: not ready within {budget}: {exc}"
                        ) from exc
                    self.metrics.retries += 1
                    logger.info(
                        "%s: start-up failed (%s), retrying in %.2f s", self.backend_name, exc, wait
                    )
                    await asyncio.sleep(wait)
                except TimeoutError as exc:
                    stalled = self._startup_stall()
                    raise BackendError(
                        f"{self.backend_name}: not ready within {self.retry.budget_s:g} s"
                        + (f": {stalled}" if stalled else "")
                    ) from exc
        except BaseException:
            self.metrics.errors += 1
            published = self.state() == "closed"  # by a shutdown() while connecting
            self._state = "closed"
            self._stopping = True
            with contextlib.suppress(Exception):
                await self._close()
            self._output.put_nowait(_END)
            if not published:
                self.metrics.finished_at = time.monotonic()
                mt.publish(self.metrics)
            raise
        if self._stopping:  # shutdown() ran while connecting; it left the closing to us
            try:
                await self._close()
            except Exception:
                logger.exception("%s: error while closing", self.backend_name)
            return
        self._state = "connected"
        self._pump_task = asyncio.create_task(self._pump(), name=f"{self.backend_name}-tts-pump")

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        """Queue a word, or end the text stream with TTSClientEosMessage."""
        if isinstance(message, str):
            message = TTSClientTextMessage(text=prepare_text_for_tts(message))
        if self._stopping or self._state in ("closing", "closed"):
            logger.warning("%s: send() after shutdown ignored", self.backend_name)
            return
        if self._state != "connected":
            raise RuntimeError("send() before start_up() finished")
        if self._eos_sent:
            logger.warning("%s: send() after end-of-stream ignored", self.backend_name)
            return
        if isinstance(message, TTSClientEosMessage):
            self._eos_sent = True
            self._input.put_nowait(None)
            return
        text = message.text.strip()
        if not text:
            return
        if self.metrics.first_text_at is None:
            self.metrics.first_text_at = time.monotonic()
        self.metrics.words_sent += len(text.split())
        self._text_sent = True
        self._input.put_nowait(text)

    async def __aiter__(self) -> AsyncIterator[OutputMessage]:
        if self._state == "not_created":
            raise RuntimeError("iterate only after start_up()")
        while True:
            item = await self._output.get()
            if isinstance(item, _End) or self._stopping:
                break
            if isinstance(item, TTSAudioMessage):
                self.audio_delivered_s += item.duration_s
            elif isinstance(item, TTSTextMessage):
                self.spoken_words.append(item)
            yield item
            if isinstance(item, TTSErrorMessage):
                break
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop producing at once, release the backend, publish metrics. Idempotent."""
        async with self._shutdown_lock:
            if self._state == "closed":
                return
            connecting = self._state == "connecting"
            self._stopping = True
            self._state = "closing"
            pump = self._pump_task
            if pump is not None and not pump.done():
                self.metrics.interrupted = True
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            if not connecting:  # else start_up() closes once _open() has returned
                try:
                    await self._close()
                except Exception:
                    logger.exception("%s: error while closing", self.backend_name)
            self.metrics.finished_at = self.metrics.finished_at or time.monotonic()
            self._state = "closed"
            self._output.put_nowait(_END)
            mt.publish(self.metrics)

    def spoken_text(self) -> str:
        """The words the consumer received so far, joined (for the chat history)."""
        return " ".join(word.text for word in self.spoken_words)

    # -- internals -------------------------------------------------------------------

    async def _text_stream(self) -> AsyncIterator[str]:
        while True:
            text = await self._input.get()
            if text is None:
                return
            yield text

    async def _pump(self) -> None:
        produced_audio = False
        try:
            messages = self._synthesize(self._text_stream())
            try:
                async for message in messages:
                    if isinstance(message, TTSAudioMessage):
                        if len(message.pcm) == 0:
                            continue
                        if not produced_audio:
                            produced_audio = True
                            self.metrics.first_audio_at = time.monotonic()
                        self.metrics.audio_s += message.duration_s
                    else:
                        self.metrics.words_spoken += 1
                    self._output.put_nowait(message)
            finally:
                if isinstance(messages, AsyncGenerator):
                    await messages.aclose()
            if self._text_sent and not produced_audio:
                raise BackendError(f"{self.backend_name} produced no audio for non-empty text")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.metrics.errors += 1
            logger.warning("%s: %s", self.backend_name, exc)
            self._output.put_nowait(TTSErrorMessage(message=f"{self.backend_name}: {exc}"))
        self.metrics.finished_at = time.monotonic()
        self._output.put_nowait(_END)
