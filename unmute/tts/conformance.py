"""The contract every backend keeps, as checks a backend's own test suite can run.

Each check is an async function taking a factory of fresh sessions; it raises
`ConformanceError` (an AssertionError) when the backend breaks the contract. Nothing
here needs pytest. With pytest, a third-party backend runs the whole suite with::

    import pytest
    from unmute.tts.conformance import CHECKS, check_id

    @pytest.mark.parametrize("check", CHECKS, ids=check_id)
    async def test_my_backend_keeps_the_contract(check):
        await check(lambda: MyTextToSpeech())

or without it, `failures = await run_checks(lambda: MyTextToSpeech())`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import numpy as np

from unmute.tts.protocol import (
    SAMPLE_RATE,
    OutputMessage,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)

TEXT: Final = "Hello from unmute."
"""What the checks speak."""

Factory = Callable[[], TextToSpeech]
Check = Callable[[Factory], Awaitable[None]]


class ConformanceError(AssertionError):
    """A backend broke the TextToSpeech contract."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


async def speak(tts: TextToSpeech, text: str) -> list[OutputMessage]:
    """Start up, send `text` word by word, end the stream, and collect every message
    (the way unmute's handler drives its TTS)."""
    await tts.start_up()
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    return [message async for message in tts]


def _audio_s(messages: list[OutputMessage]) -> float:
    return sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)) / SAMPLE_RATE


async def start_up_connects(make: Factory) -> None:
    """`state()` is not_created before start_up, connected after, closed after shutdown."""
    tts = make()
    _expect(tts.state() == "not_created", f"fresh session in state {tts.state()!r}")
    await tts.start_up()
    _expect(tts.state() == "connected", f"after start_up: state {tts.state()!r}")
    await tts.shutdown()
    _expect(tts.state() == "closed", f"after shutdown: state {tts.state()!r}")


async def speaks_text_sent_word_by_word(make: Factory) -> None:
    """Words sent one by one come back as non-empty float32 audio, without errors."""
    messages = await speak(make(), TEXT)
    errors = [m.message for m in messages if isinstance(m, TTSErrorMessage)]
    _expect(errors == [], f"error messages: {errors}")
    audio = [m for m in messages if isinstance(m, TTSAudioMessage)]
    _expect(bool(audio), "no audio")
    _expect(all(len(m.pcm) > 0 for m in audio), "an empty audio message")
    _expect(all(np.asarray(m.pcm).dtype == np.float32 for m in audio), "audio that is not float32")


async def audio_length_fits_the_text(make: Factory) -> None:
    """Between 0.1 s and 2 s (plus 1 s) of audio per word."""
    seconds = _audio_s(await speak(make(), TEXT))
    words = len(TEXT.split())
    _expect(
        0.1 * words <= seconds <= 2.0 * words + 1.0,
        f"{seconds:.2f} s of audio for {words} words",
    )


async def words_arrive_in_order_inside_the_audio(make: Factory) -> None:
    """Every word comes back once, in order, with times that grow and lie in the audio."""
    messages = await speak(make(), TEXT)
    words = [m for m in messages if isinstance(m, TTSTextMessage)]
    spoken = [w.text.strip(".,!?").lower() for w in words]
    expected = [w.strip(".,!?").lower() for w in TEXT.split()]
    _expect(spoken == expected, f"words {spoken}, expected {expected}")
    starts = [w.start_s for w in words]
    _expect(starts == sorted(starts), f"start times not in order: {starts}")
    seconds = _audio_s(messages)
    _expect(
        all(0 <= w.start_s <= w.stop_s <= seconds + 1e-3 for w in words),
        f"word times outside the {seconds:.2f} s of audio: "
        f"{[(w.text, w.start_s, w.stop_s) for w in words]}",
    )


async def shutdown_mid_stream_stops_the_stream(make: Factory) -> None:
    """After shutdown() (an interruption) the stream yields nothing more and is closed."""
    tts = make()
    await tts.start_up()
    for word in TEXT.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    received = 0
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            received += 1
            await asyncio.wait_for(tts.shutdown(), 1)
    _expect(received == 1, f"{received} audio messages after shutdown, expected none")
    _expect(tts.state() == "closed", f"after shutdown: state {tts.state()!r}")


async def shutdown_twice_is_harmless(make: Factory) -> None:
    """shutdown() is idempotent."""
    tts = make()
    await tts.start_up()
    await tts.shutdown()
    await tts.shutdown()
    _expect(tts.state() == "closed", f"after shutdown: state {tts.state()!r}")


async def send_after_shutdown_is_ignored(make: Factory) -> None:
    """send() after shutdown() neither raises nor reopens the session."""
    tts = make()
    await tts.start_up()
    await tts.shutdown()
    await tts.send("late")
    await tts.send(TTSClientEosMessage())
    _expect(tts.state() == "closed", f"after a late send: state {tts.state()!r}")


async def empty_text_ends_cleanly(make: Factory) -> None:
    """No words then end-of-stream: the stream ends with no message at all."""
    messages = await speak(make(), "")
    _expect(messages == [], f"messages for empty text: {messages}")


async def leaves_no_task_behind(make: Factory) -> None:
    """A finished session leaves no asyncio task running."""
    before = set(asyncio.all_tasks())
    await speak(make(), TEXT)
    await asyncio.sleep(0)
    left = set(asyncio.all_tasks()) - before
    _expect(left == set(), f"tasks left running: {sorted(t.get_name() for t in left)}")


CHECKS: Final[tuple[Check, ...]] = (
    start_up_connects,
    speaks_text_sent_word_by_word,
    audio_length_fits_the_text,
    words_arrive_in_order_inside_the_audio,
    shutdown_mid_stream_stops_the_stream,
    shutdown_twice_is_harmless,
    send_after_shutdown_is_ignored,
    empty_text_ends_cleanly,
    leaves_no_task_behind,
)
"""Every check, in a stable order."""


def check_id(check: Check) -> str:
    """A check's name, for test ids."""
    return getattr(check, "__name__", repr(check))


async def run_checks(make: Factory, timeout_s: float = 60.0) -> dict[str, Exception]:
    """Run every check (each within `timeout_s`); the failures by check name."""
    failures: dict[str, Exception] = {}
    for check in CHECKS:
        try:
            await asyncio.wait_for(check(make), timeout_s)
        except Exception as exc:
            failures[check_id(check)] = exc
    return failures
