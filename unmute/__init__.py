"""Pluggable streaming text-to-speech for unmute."""

from unmute.registry import create_tts, get_backend, list_backends
from unmute.tts import (
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSReadyMessage,
    TTSTextMessage,
)

__all__ = [
    "TTSAudioMessage",
    "TTSClientEosMessage",
    "TTSClientTextMessage",
    "TTSErrorMessage",
    "TTSReadyMessage",
    "TTSTextMessage",
    "TextToSpeech",
    "create_tts",
    "get_backend",
    "list_backends",
]
