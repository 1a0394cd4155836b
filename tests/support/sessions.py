"""Driving a TextToSpeech session the way unmute's handler does (the library's driver)."""

from __future__ import annotations

from unmute.tts.conformance import speak

__all__ = ["speak"]
