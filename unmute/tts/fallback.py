"""A fallback chain of backends: never silent while any one of them can speak.

`UNMUTE_TTS_BACKEND=orpheus,espeak` makes every session a `FallbackTextToSpeech` over
those backends (see `unmute.tts.registry.create_tts`). Each utterance starts on the
first member marked available (`unmute.tts.availability`). Before its first audio, any
failure of the current member moves the utterance to the next one, with every word
sent so far replayed in order and the words still to come: an error or a timeout
while starting up (a retryable one, such as a refused connection or a capacity
refusal, counts at once), an `Error` message, the stream ending without audio, or no
audio within `UNMUTE_TTS_FALLBACK_FIRST_AUDIO_S` of the first word (counted from the
switch for a later member). The late or failed member's session is closed, so none of
its audio can arrive, it is marked unavailable for the process, and a background probe
(its `prewarm`, then one-word syntheses) brings it back.

After the first audio the utterance belongs to that member: a failure ends the stream
with an `Error` message; no audio is repeated and no second voice finishes it. Words
a member reports before its first audio are held until that audio, so a member that
fails never puts a word into the chat history.

Members marked available are tried first, in chain order, then the others (so with
every member marked unavailable, all are tried in order). The last one tried has no
deadline: late is better than silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from unmute.tts import availability as av
from unmute.tts import session_metrics as mt
from unmute.tts.base import prepare_text_for_tts
from unmute.tts.chain_attempt import MemberAttempt, MemberFailed, WordLog
from unmute.tts.protocol import (
    OutputMessage,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSState,
    TTSTextMessage,
)

logger = logging.getLogger(__name__)

CHAIN_SEPARATOR: Final = ","


def _no_voices() -> list[str]:
    return []


@dataclass(frozen=True)
class ChainMember:
    """One backend of a chain, as the chain needs it."""

    name: str
    create: Callable[[str | None], TextToSpeech]
    """A fresh session for a voice (None: the backend's own default)."""
    voices: Callable[[], list[str]] = field(default=_no_voices)
    """The voices the backend lists (read off the event loop)."""
    prewarm: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True)
class FallbackPolicy:
    """The chain's timing: the first-audio deadline and how members come back."""

    first_audio_s: float = 1.0
    probe: av.ProbePolicy = field(default_factory=av.ProbePolicy)


class FallbackTextToSpeech:
    """The `TextToSpeech` protocol over a chain of backends (see the module docstring).

    `voice` goes to the first member; a later member gets it only if it lists that
    voice, else speaks with its own default. `speaker` names the member that spoke.
    """

    backend_name = "fallback"

    def __init__(
        self,
        members: Sequence[ChainMember],
        voice: str | None = None,
        *,
        policy: FallbackPolicy | None = None,
    ) -> None:
        if not members:
            raise ValueError("a fallback chain needs at least one backend")
        self.members = list(members)
        self.voice = voice
        self.policy = policy or FallbackPolicy()
        self.name = CHAIN_SEPARATOR.join(member.name for member in self.members)
        self.metrics = mt.TTSMetrics(backend=self.name, voice=voice, chain=self.name)
        self.startup_errors: list[Exception] = []
        """Always empty: a member's refusal moves the chain on instead."""
        self.speaker: str | None = None
        """The member whose audio the consumer got (None before any audio)."""
        self._state: TTSState = "not_created"
        self._words = WordLog()
        self._output: asyncio.Queue[OutputMessage | None] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._current: MemberAttempt | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._shutdown_lock = asyncio.Lock()

    # -- protocol ----------------------------------------------------------------

    def state(self) -> TTSState:
        """not_created, connected (from start_up on: words are kept), closing, closed."""
        return self._state

    async def start_up(self) -> None:
        """Start working through the chain in the background and return at once."""
        if self._state != "not_created":
            raise RuntimeError(f"start_up() called in state {self._state!r}")
        self._state = "connected"
        self._runner = asyncio.create_task(self._run(), name=f"tts-chain-{self.name}")

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        """Keep a word (or the end of the text) for the member speaking now and any next."""
        if isinstance(message, str):
            message = TTSClientTextMessage(text=prepare_text_for_tts(message))
        if self._state in ("closing", "closed"):
            logger.warning("%s: send() after shutdown ignored", self.name)
            return
        if self._state != "connected":
            raise RuntimeError("send() before start_up()")
        if self._words.ended:
            logger.warning("%s: send() after end-of-stream ignored", self.name)
            return
        if isinstance(message, TTSClientEosMessage):
            self._words.add(None)
            return
        text = message.text.strip()
        if text:
            self._words.add(text)
            self.metrics.first_text_at = self._words.first_at
            self.metrics.words_sent += len(text.split())

    async def __aiter__(self) -> AsyncIterator[OutputMessage]:
        if self._state == "not_created":
            raise RuntimeError("iterate only after start_up()")
        while self._state != "closed":
            item = await self._output.get()
            if item is None:
                break
            yield item
            if isinstance(item, TTSErrorMessage):
                break
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop at once, close the member speaking, publish the metrics. Idempotent."""
        async with self._shutdown_lock:
            if self._state == "closed":
                return
            self._state = "closing"
            runner = self._runner
            if runner is not None and not runner.done():
                self.metrics.interrupted = True
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            if self._current is not None:
                await self._current.close()
            for task in list(self._background):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.metrics.finished_at = self.metrics.finished_at or time.monotonic()
            self._state = "closed"
            self._output.put_nowait(None)
            mt.publish(self.metrics)

    # -- the chain ---------------------------------------------------------------

    def _order(self) -> list[tuple[int, ChainMember]]:
        """Members marked available first, in chain order, then the others."""
        indexed = list(enumerate(self.members))
        up = [(i, m) for i, m in indexed if av.is_available(m.name)]
        return up + [(i, m) for i, m in indexed if not av.is_available(m.name)]

    async def _run(self) -> None:
        order = self._order()
        failures: list[str] = []
        try:
            for position, (index, member) in enumerate(order):
                if self._state != "connected":
                    return
                last = position == len(order) - 1
                try:
                    await self._speak_through(index, member, deadline=not last)
                    return
                except MemberFailed as failure:
                    failures.append(f"{member.name}: {failure}")
                    self._mark_down(member, failure)
                    if last:
                        break
                    self._note_fallback(member.name, order[position + 1][1].name, failure)
            message = "every TTS backend of the chain failed: " + "; ".join(failures)
            logger.error("%s", message)
            self.metrics.errors += 1
            self._output.put_nowait(TTSErrorMessage(message=message))
        finally:
            self.metrics.finished_at = time.monotonic()
            self._output.put_nowait(None)

    def _note_fallback(self, failed: str, following: str, failure: MemberFailed) -> None:
        logger.warning(
            "TTS fallback %s -> %s (%s): %s", failed, following, failure.reason, failure.detail
        )
        av.count_fallback(failure.reason, failed, following)
        self.metrics.fallbacks.append(f"{failed} -> {following} ({failure.reason})")

    def _mark_down(self, member: ChainMember, failure: MemberFailed) -> None:
        policy = self.policy.probe
        av.mark_unavailable(
            member.name,
            str(failure),
            prober=lambda: member.create(None),
            prewarm=member.prewarm,
            policy=policy,
        )

    async def _voice_for(self, index: int, member: ChainMember) -> str | None:
        if index == 0 or self.voice is None:
            return self.voice
        voices = await asyncio.to_thread(member.voices)
        return self.voice if self.voice in voices else None

    async def _speak_through(self, index: int, member: ChainMember, *, deadline: bool) -> None:
        """Speak the utterance through `member`; MemberFailed before its first audio."""
        try:
            tts = member.create(await self._voice_for(index, member))
        except Exception as exc:
            raise MemberFailed("start-up", f"cannot create a session: {exc}") from exc
        deadline_s = self.policy.first_audio_s if deadline else None
        attempt = self._current = MemberAttempt(tts, self._words, deadline_s=deadline_s)
        try:
            await attempt.start()
            held = await attempt.first_audio()
        except BaseException:
            self._current = None
            closing = asyncio.create_task(attempt.close(), name="tts-chain-close")
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
            raise
        self._commit(member)
        for message in held:
            self._deliver(message)
        while (message := await attempt.next_message()) is not None:
            if isinstance(message, TTSErrorMessage):
                self.metrics.errors += 1
                logger.warning("%s failed after its first audio: %s", member.name, message.message)
            self._deliver(message)
            if isinstance(message, TTSErrorMessage):
                return

    def _commit(self, member: ChainMember) -> None:
        self.speaker = self.metrics.backend = member.name
        av.mark_available(member.name)

    def _deliver(self, message: OutputMessage) -> None:
        if isinstance(message, TTSAudioMessage):
            if self.metrics.first_audio_at is None:
                self.metrics.first_audio_at = time.monotonic()
            self.metrics.audio_s += message.duration_s
        elif isinstance(message, TTSTextMessage):
            self.metrics.words_spoken += 1
        self._output.put_nowait(message)
