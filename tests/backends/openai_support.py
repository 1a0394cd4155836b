"""Helpers of the `openai` backend's tests: a session on a server, and what it said."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.openai_compat.session import OpenAITextToSpeech
from backends.openai_compat.settings import OpenAITTSSettings
from unmute.tts.base import RetryPolicy
from unmute.tts.protocol import (
    SAMPLE_RATE,
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)

FAST_RETRY = RetryPolicy(budget_s=3.0, initial_backoff_s=0.05, max_backoff_s=0.2)


def session(url: str, retry: RetryPolicy = FAST_RETRY, **settings: Any) -> OpenAITextToSpeech:
    """A session on the server at `url` (no key unless given)."""
    config = OpenAITTSSettings(**{"base_url": url, "api_key": None, **settings})
    return OpenAITextToSpeech(settings=config, retry=retry)


async def speak(tts: OpenAITextToSpeech, text: str) -> list[OutputMessage]:
    """Start up, send `text` word by word, end it, and collect every message."""
    await tts.start_up()
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    return [message async for message in tts]


def audio(messages: list[OutputMessage]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The audio of `messages`, joined."""
    parts = [m.pcm for m in messages if isinstance(m, TTSAudioMessage)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def audio_s(messages: list[OutputMessage]) -> float:
    """Seconds of audio in `messages`."""
    return len(audio(messages)) / SAMPLE_RATE


def words(messages: list[OutputMessage]) -> list[TTSTextMessage]:
    """The Text messages."""
    return [m for m in messages if isinstance(m, TTSTextMessage)]


def errors(messages: list[OutputMessage]) -> list[str]:
    """The Error messages' texts."""
    return [m.message for m in messages if isinstance(m, TTSErrorMessage)]
