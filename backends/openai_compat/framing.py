"""The body of a speech answer in, audio bytes (and exact word times) out.

- a plain body is the audio itself;
- `stream_format=sse` (OpenAI, speaches, chatterbox-tts-api, the Orpheus service):
  `data: {"type": "speech.audio.delta", "audio": BASE64}` events, then
  `speech.audio.done`; an `error` event is the server's failure;
- Kokoro-FastAPI's `/dev/captioned_speech`: NDJSON lines `{"audio": BASE64,
  "audio_format": ..., "timestamps": [{"word", "start_time", "end_time"}]}`, times in
  seconds from the start of the answer's audio.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from unmute.tts.base import BackendError


class ServerStreamError(BackendError):
    """The server reported a failure inside its stream, or sent an unreadable event."""


@dataclass(frozen=True)
class CaptionedWord:
    """A word with times from the server, in seconds from the answer's start."""

    text: str
    start_s: float
    stop_s: float


@dataclass
class Framed:
    """What one piece of the body held."""

    audio: bytes = b""
    words: list[CaptionedWord] = field(default_factory=lambda: list[CaptionedWord]())


class BodyFraming(Protocol):
    """Bytes of a body in, audio bytes and word times out."""

    def feed(self, data: bytes) -> Framed: ...

    def finish(self) -> Framed: ...


class PlainBody:
    """The body is the audio."""

    def feed(self, data: bytes) -> Framed:
        return Framed(audio=data)

    def finish(self) -> Framed:
        return Framed()


class _Lines:
    """Splits a byte stream into lines (\\n or \\r\\n)."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]

    def finish(self) -> list[str]:
        rest, self._partial = self._partial, b""
        return [rest.rstrip(b"\r").decode("utf-8", "replace")] if rest.strip() else []


def _base64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ServerStreamError(f"{what}: audio is not a base64 string")
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError) as exc:
        raise ServerStreamError(f"{what}: bad base64 audio ({exc})") from None


def json_object(value: Any) -> dict[str, Any] | None:
    """`value` as a JSON object, or None."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def _error_text(event: dict[str, Any]) -> str:
    error: Any = event.get("error", event)
    found = json_object(error)
    if found is not None:
        return str(found.get("message") or found.get("detail") or json.dumps(found)[:200])
    return str(error)[:200]


class SseBody:
    """Server-sent `speech.audio.delta` / `speech.audio.done` events."""

    def __init__(self) -> None:
        self._lines = _Lines()
        self._data: list[str] = []
        self.done = False
        """Whether `speech.audio.done` was received."""

    def feed(self, data: bytes) -> Framed:
        return self._read(self._lines.feed(data))

    def finish(self) -> Framed:
        return self._read([*self._lines.finish(), ""])

    def _read(self, lines: list[str]) -> Framed:
        out = Framed()
        for line in lines:
            if line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            elif not line and self._data:
                payload, self._data = "\n".join(self._data), []
                out.audio += self._event(payload)
        return out

    def _event(self, payload: str) -> bytes:
        if payload.strip() == "[DONE]":
            self.done = True
            return b""
        try:
            event = json_object(json.loads(payload))
        except json.JSONDecodeError:
            raise ServerStreamError(f"unreadable SSE event: {payload[:80]!r}") from None
        if event is None:
            raise ServerStreamError(f"unexpected SSE event: {payload[:80]!r}")
        kind = str(event.get("type", ""))
        if kind == "speech.audio.delta" or (not kind and "audio" in event):
            return _base64(event.get("audio") or event.get("delta"), "SSE event")
        if kind == "speech.audio.done":
            self.done = True
        elif kind == "error" or "error" in event:
            raise ServerStreamError(f"the server failed: {_error_text(event)}")
        return b""


class CaptionedBody:
    """Kokoro-FastAPI's captioned speech: NDJSON lines of audio and word timestamps."""

    def __init__(self) -> None:
        self._lines = _Lines()

    def feed(self, data: bytes) -> Framed:
        return self._read(self._lines.feed(data))

    def finish(self) -> Framed:
        return self._read(self._lines.finish())

    def _read(self, lines: list[str]) -> Framed:
        out = Framed()
        for line in lines:
            if not line.strip():
                continue
            try:
                item = json_object(json.loads(line))
            except json.JSONDecodeError:
                raise ServerStreamError(f"unreadable captioned line: {line[:80]!r}") from None
            if item is None:
                raise ServerStreamError(f"unexpected captioned line: {line[:80]!r}")
            if "error" in item or "detail" in item:
                raise ServerStreamError(f"the server failed: {_error_text(item)}")
            if item.get("audio"):
                out.audio += _base64(item["audio"], "captioned line")
            stamps: Any = item.get("timestamps") or []
            if not isinstance(stamps, list):
                raise ServerStreamError(f"unreadable timestamps: {stamps!r:.80}")
            for stamp in cast(list[Any], stamps):
                out.words.append(_captioned_word(stamp))
        return out


def _captioned_word(stamp: Any) -> CaptionedWord:
    try:
        return CaptionedWord(
            text=str(stamp["word"]),
            start_s=float(stamp["start_time"]),
            stop_s=float(stamp["end_time"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ServerStreamError(f"unreadable word timestamp: {stamp!r:.80}") from None
