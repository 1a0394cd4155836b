"""One member's try at an utterance of a fallback chain (`unmute.tts.fallback`).

`WordLog` keeps every word sent to the chain so far, so each member the utterance
moves to gets them all, in order, then the words still to come. `MemberAttempt` runs
one member's session: its start-up (any error it is still retrying, such as a refused
connection or a capacity refusal, fails it at once), the replay of the words, and its
messages until the first audio, with the first-audio deadline. Until then every
failure raises `MemberFailed`; `close()` stops the session in the background and drops
whatever it still says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

from unmute.tts.base import AtCapacityError
from unmute.tts.protocol import (
    OutputMessage,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
)

logger = logging.getLogger(__name__)

START_POLL_S: Final = 0.01
"""How often a member's start-up is checked for a refusal it is still retrying."""
WORD_WAIT_POLL_S: Final = 0.05
"""How often the deadline is looked at while no word has been sent yet."""


class MemberFailed(Exception):
    """The member failed before its first audio; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class WordLog:
    """Every word sent so far, then None for the end of the text."""

    def __init__(self) -> None:
        self.items: list[str | None] = []
        self.first_at: float | None = None
        """When the first word came (time.monotonic)."""
        self._changed = asyncio.Event()

    @property
    def ended(self) -> bool:
        """Whether the end of the text was sent."""
        return bool(self.items) and self.items[-1] is None

    @property
    def has_words(self) -> bool:
        """Whether any word was sent."""
        return self.first_at is not None

    def add(self, word: str | None) -> None:
        """Append a word (None: the end)."""
        if word is not None and self.first_at is None:
            self.first_at = time.monotonic()
        self.items.append(word)
        self._changed.set()

    async def replay_into(self, tts: TextToSpeech) -> None:
        """Send `tts` every word so far, in order, then each new one, then the end."""
        sent = 0
        while True:
            while sent < len(self.items):
                word = self.items[sent]
                sent += 1
                if word is None:
                    await tts.send(TTSClientEosMessage())
                    return
                await tts.send(TTSClientTextMessage(text=word))
            self._changed.clear()
            if sent == len(self.items):
                await self._changed.wait()


class _End:
    pass


_END: Final = _End()


class MemberAttempt:
    """A member's session speaking the utterance; `deadline_s` None: no first-audio limit."""

    def __init__(self, tts: TextToSpeech, words: WordLog, *, deadline_s: float | None) -> None:
        self.tts = tts
        self.words = words
        self.deadline_s = deadline_s
        self.started_at = time.monotonic()
        self._inbox: asyncio.Queue[OutputMessage | _End] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def _remaining(self) -> float | None:
        """Seconds until the deadline (None: no deadline); MemberFailed once past it."""
        if self.deadline_s is None:
            return None
        if self.words.first_at is None:
            return WORD_WAIT_POLL_S
        due = max(self.words.first_at, self.started_at) + self.deadline_s
        left = due - time.monotonic()
        if left <= 0:
            raise MemberFailed(
                "first-audio-deadline", f"no audio {self.deadline_s:g} s after the words"
            )
        return left

    async def start(self) -> None:
        """Start the session, then replay the words into it and read what it says."""
        start = asyncio.create_task(self.tts.start_up())
        try:
            while not start.done():
                errors: list[Exception] = getattr(self.tts, "startup_errors", [])
                if errors:
                    kind = "at-capacity" if isinstance(errors[0], AtCapacityError) else "start-up"
                    raise MemberFailed(kind, str(errors[0]))
                remaining = self._remaining()
                wait = START_POLL_S if remaining is None else min(START_POLL_S, remaining)
                await asyncio.wait({start}, timeout=wait)
        except BaseException:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
            raise
        if (exc := start.exception()) is not None:
            raise MemberFailed("start-up", str(exc) or type(exc).__name__) from exc
        if self.tts.state() != "connected":
            raise MemberFailed("start-up", "closed during start-up")
        self._tasks.append(asyncio.create_task(self.words.replay_into(self.tts)))
        self._tasks.append(asyncio.create_task(self._read()))

    async def first_audio(self) -> list[OutputMessage]:
        """The messages up to and with the first audio (words held until it); empty when
        the stream ended with nothing to say."""
        held: list[OutputMessage] = []
        while True:
            try:
                async with asyncio.timeout(self._remaining()):
                    item = await self._inbox.get()
            except TimeoutError:
                continue  # _remaining raises once the deadline has passed
            if isinstance(item, _End):
                if self.words.has_words:
                    raise MemberFailed("no-audio", "the stream ended without audio")
                return held
            if isinstance(item, TTSErrorMessage):
                raise MemberFailed("error", item.message)
            held.append(item)
            if isinstance(item, TTSAudioMessage) and len(item.pcm):
                return held

    async def next_message(self) -> OutputMessage | None:
        """The session's next message after the first audio; None at its end."""
        item = await self._inbox.get()
        return None if isinstance(item, _End) else item

    async def _read(self) -> None:
        try:
            async for message in self.tts:
                self._inbox.put_nowait(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a session breaking its contract: an Error ends it
            self._inbox.put_nowait(TTSErrorMessage(message=str(exc) or type(exc).__name__))
        self._inbox.put_nowait(_END)

    async def close(self) -> None:
        """Stop reading and sending, and shut the session down (nothing more arrives)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._inbox = asyncio.Queue()
        try:
            await self.tts.shutdown()
        except Exception:
            logger.exception("closing a TTS session of the chain failed")
