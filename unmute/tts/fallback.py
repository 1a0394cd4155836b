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
from unmute.tts.base import AtCapacityError, prepare_text_for_tts
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
START_POLL_S: Final = 0.01
"""How often a member's start-up is checked for a refusal it is still retrying."""
WORD_WAIT_POLL_S: Final = 0.05
"""How often the deadline is looked at while no word has been sent yet."""


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


class MemberFailed(Exception):
    """The current member failed before its first audio; `reason` is a short label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _End:
    pass


_END: Final = _End()


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
        self._sent: list[str | None] = []
        """Every word sent so far, then None for the end of the text."""
        self._sent_changed = asyncio.Event()
        self._first_text_at: float | None = None
        self._output: asyncio.Queue[OutputMessage | _End] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._current: TextToSpeech | None = None
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
        if self._sent and self._sent[-1] is None:
            logger.warning("%s: send() after end-of-stream ignored", self.name)
            return
        if isinstance(message, TTSClientEosMessage):
            self._sent.append(None)
        else:
            text = message.text.strip()
            if not text:
                return
            if self._first_text_at is None:
                self._first_text_at = self.metrics.first_text_at = time.monotonic()
            self.metrics.words_sent += len(text.split())
            self._sent.append(text)
        self._sent_changed.set()

    async def __aiter__(self) -> AsyncIterator[OutputMessage]:
        if self._state == "not_created":
            raise RuntimeError("iterate only after start_up()")
        while self._state != "closed":
            item = await self._output.get()
            if isinstance(item, _End):
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
                await _close(self._current)
            for task in list(self._background):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.metrics.finished_at = self.metrics.finished_at or time.monotonic()
            self._state = "closed"
            self._output.put_nowait(_END)
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
            self._output.put_nowait(_END)

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

    def _deadline(self, switched_at: float) -> float | None:
        if self._first_text_at is None:
            return None
        return max(self._first_text_at, switched_at) + self.policy.first_audio_s

    def _remaining(self, switched_at: float, deadline: bool) -> float | None:
        """Seconds until the deadline (None: none applies; poll while no word yet)."""
        if not deadline:
            return None
        due = self._deadline(switched_at)
        if due is None:
            return WORD_WAIT_POLL_S
        left = due - time.monotonic()
        if left <= 0:
            raise MemberFailed(
                "first-audio-deadline", f"no audio {self.policy.first_audio_s:g} s after the words"
            )
        return left

    async def _speak_through(self, index: int, member: ChainMember, *, deadline: bool) -> None:
        """Speak the utterance through `member`; MemberFailed before its first audio."""
        switched_at = time.monotonic()
        try:
            tts = member.create(await self._voice_for(index, member))
        except Exception as exc:
            raise MemberFailed("start-up", f"cannot create a session: {exc}") from exc
        self._current = tts
        inbox: asyncio.Queue[OutputMessage | _End] = asyncio.Queue()
        tasks: list[asyncio.Task[None]] = []
        committed = False
        try:
            await self._start(tts, switched_at, deadline)
            tasks.append(asyncio.create_task(self._forward(tts), name=f"tts-chain-send-{index}"))
            tasks.append(asyncio.create_task(_read(tts, inbox), name=f"tts-chain-read-{index}"))
            held = await self._first_audio(inbox, switched_at, deadline)
            committed = True
            self._commit(member, tts)
            for message in held:
                self._deliver(message)
            await self._relay(inbox)
        finally:
            if not committed:
                self._current = None
                self._dispose(tts, tasks)
            else:
                for task in tasks:
                    task.cancel()

    async def _start(self, tts: TextToSpeech, switched_at: float, deadline: bool) -> None:
        start = asyncio.create_task(tts.start_up())
        try:
            while not start.done():
                errors: list[Exception] = getattr(tts, "startup_errors", [])
                if errors:
                    kind = "at-capacity" if isinstance(errors[0], AtCapacityError) else "start-up"
                    raise MemberFailed(kind, str(errors[0]))
                remaining = self._remaining(switched_at, deadline)
                wait = START_POLL_S if remaining is None else min(START_POLL_S, remaining)
                await asyncio.wait({start}, timeout=wait)
        except BaseException:
            start.cancel()
            with contextlib.suppress(BaseException):
                await start
            raise
        if (exc := start.exception()) is not None:
            raise MemberFailed("start-up", str(exc) or type(exc).__name__) from exc
        if tts.state() != "connected":
            raise MemberFailed("start-up", "closed during start-up")

    async def _first_audio(
        self, inbox: asyncio.Queue[OutputMessage | _End], switched_at: float, deadline: bool
    ) -> list[OutputMessage]:
        """Wait for the member's first audio; return it with the words held before it."""
        held: list[OutputMessage] = []
        while True:
            remaining = self._remaining(switched_at, deadline)
            try:
                async with asyncio.timeout(remaining):
                    item = await inbox.get()
            except TimeoutError:
                continue  # _remaining raises once the deadline has passed
            if isinstance(item, _End):
                if any(word is not None for word in self._sent):
                    raise MemberFailed("no-audio", "the stream ended without audio")
                return held  # nothing to say: done
            if isinstance(item, TTSErrorMessage):
                raise MemberFailed("error", item.message)
            held.append(item)
            if isinstance(item, TTSAudioMessage) and len(item.pcm):
                return held

    def _commit(self, member: ChainMember, tts: TextToSpeech) -> None:
        self.speaker = self.metrics.backend = member.name
        member_metrics = getattr(tts, "metrics", None)
        if isinstance(member_metrics, mt.TTSMetrics):
            member_metrics.chain = self.name
        av.mark_available(member.name)

    def _deliver(self, message: OutputMessage) -> None:
        if isinstance(message, TTSAudioMessage):
            if self.metrics.first_audio_at is None:
                self.metrics.first_audio_at = time.monotonic()
            self.metrics.audio_s += message.duration_s
        elif isinstance(message, TTSTextMessage):
            self.metrics.words_spoken += 1
        self._output.put_nowait(message)

    async def _relay(self, inbox: asyncio.Queue[OutputMessage | _End]) -> None:
        """After the first audio: everything the member says, an Error ending the stream."""
        while not isinstance(item := await inbox.get(), _End):
            if isinstance(item, TTSErrorMessage):
                self.metrics.errors += 1
                logger.warning("%s failed after its first audio: %s", self.speaker, item.message)
            self._deliver(item)
            if isinstance(item, TTSErrorMessage):
                return

    async def _forward(self, tts: TextToSpeech) -> None:
        """Send the member every word so far, in order, then each new one, then the end."""
        sent = 0
        while True:
            while sent < len(self._sent):
                word = self._sent[sent]
                sent += 1
                if word is None:
                    await tts.send(TTSClientEosMessage())
                    return
                await tts.send(TTSClientTextMessage(text=word))
            self._sent_changed.clear()
            if sent == len(self._sent):
                await self._sent_changed.wait()

    def _dispose(self, tts: TextToSpeech, tasks: list[asyncio.Task[None]]) -> None:
        """Stop a member that lost the utterance, in the background: nothing it still says
        reaches the consumer (its inbox is dropped with it)."""
        for task in tasks:
            task.cancel()
        closing = asyncio.create_task(_close(tts, tasks), name="tts-chain-close")
        self._background.add(closing)
        closing.add_done_callback(self._background.discard)


async def _read(tts: TextToSpeech, inbox: asyncio.Queue[OutputMessage | _End]) -> None:
    """Everything `tts` yields, into `inbox`; an exception becomes an Error message."""
    try:
        async for message in tts:
            inbox.put_nowait(message)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        inbox.put_nowait(TTSErrorMessage(message=str(exc) or type(exc).__name__))
    inbox.put_nowait(_END)


async def _close(tts: TextToSpeech, tasks: Sequence[asyncio.Task[None]] = ()) -> None:
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    try:
        await tts.shutdown()
    except Exception:
        logger.exception("closing a TTS session of the chain failed")
