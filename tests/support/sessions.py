"""Driving a TextToSpeech session the way unmute's handler does."""

from __future__ import annotations

from unmute.tts.protocol import OutputMessage, TextToSpeech, TTSClientEosMessage


async def speak(tts: TextToSpeech, text: str) -> list[OutputMessage]:
    """Start up, send `text` word by word, end the stream, and collect every message."""
    await tts.start_up()
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    return [message async for message in tts]
