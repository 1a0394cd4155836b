"""One speech request to an OpenAI-compatible server, its answer streamed as audio.

`SpeechClient.stream(text)` posts one sentence and yields what arrives: decoded audio
pieces (at the answer's rate) and, from Kokoro's captioned speech, word times. Its
failures say whether a retry is safe:

- `RetryableError` only before any audio arrived: connection refused or reset,
  connect or first-byte timeout, HTTP 408/425/429/5xx;
- `ServiceAuthError` for HTTP 401/403, naming the key variables (never retried);
- `BackendError` for other refusals (400 unknown voice, 404 no such endpoint), and
  `ServiceError` for anything after audio arrived (a stall past the stall timeout, a
  dropped connection, an error event): the caller ends the stream, never repeats.

The key travels only in the `Authorization` header and is masked in every message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from backends.openai_compat.decoding import AudioPiece, SniffingDecoder, format_of
from backends.openai_compat.framing import (
    BodyFraming,
    CaptionedBody,
    CaptionedWord,
    PlainBody,
    SseBody,
    json_object,
)
from backends.openai_compat.settings import KEY_VARIABLES, OpenAITTSSettings, env_var
from unmute.tts.base import BackendError, RetryableError
from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.websocket_client import RETRYABLE_STATUS, ServiceAuthError, ServiceError

ERROR_BODY_BYTES: Final = 2000
"""The most of an error body read for its message."""


@dataclass
class Received:
    """What one read of the answer gave."""

    pieces: list[AudioPiece] = field(default_factory=lambda: list[AudioPiece]())
    words: list[CaptionedWord] = field(default_factory=lambda: list[CaptionedWord]())


def _error_detail(body: bytes) -> str:
    """The message of an error body: OpenAI's `{"error": {"message"}}`, FastAPI's
    `{"detail"}`, or the text itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    found = json_object(parsed)
    if found is None:
        return text[:200]
    error: Any = found.get("error", found.get("detail", found))
    inner = json_object(error)
    return str(inner.get("message", inner) if inner is not None else error)[:200]


class SpeechClient:
    """Posts sentences to one server with one settings object and one HTTP client."""

    def __init__(self, settings: OpenAITTSSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.requests = 0
        """Requests sent (retries included)."""

    def status_error(self, status: int, body: bytes) -> BackendError:
        """The error for an HTTP error status (`body`: the start of the error body)."""
        settings = self.settings
        detail = settings.redact(_error_detail(body)) if body else ""
        suffix = f": {detail}" if detail else ""
        where = settings.speech_url
        if status in (401, 403):
            return ServiceAuthError(
                f"{where} rejected the key (HTTP {status}): set {KEY_VARIABLES}{suffix}"
            )
        if status in RETRYABLE_STATUS:
            return RetryableError(f"{where}: HTTP {status} (busy or starting){suffix}")
        if status == 404:
            return BackendError(
                f"{where}: HTTP 404, no such endpoint; check {env_var('base_url')} "
                f"and {env_var('word_times')}{suffix}"
            )
        return BackendError(f"{where} refused the request: HTTP {status}{suffix}")

    def _framing(self, content_type: str | None) -> BodyFraming:
        if self.settings.word_times == "captioned":
            return CaptionedBody()
        event_stream = (content_type or "").lower().startswith("text/event-stream")
        if self.settings.stream_format == "sse" or event_stream:
            return SseBody()
        return PlainBody()

    async def stream(self, text: str, voice: str | None) -> AsyncIterator[Received]:
        """Post `text` and yield its audio as it arrives (see the module's failures)."""
        settings = self.settings
        request = self.client.build_request(
            "POST",
            settings.speech_url,
            json=settings.request_body(text, voice),
            headers=settings.headers(),
        )
        self.requests += 1
        loop = asyncio.get_running_loop()
        first_byte_deadline = loop.time() + settings.first_byte_timeout_s
        audio_s = 0.0
        started = time.monotonic()
        try:
            async with asyncio.timeout_at(first_byte_deadline):
                response = await self.client.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    async with asyncio.timeout_at(first_byte_deadline):
                        body = await _read_some(response, ERROR_BODY_BYTES)
                    raise self.status_error(response.status_code, body)
                content_type = response.headers.get("content-type")
                media_format, media_rate = format_of(content_type)
                framing = self._framing(content_type)
                inner = media_format if isinstance(framing, PlainBody) else None
                decoder = SniffingDecoder(
                    inner or settings.response_format,
                    settings.sample_rate or media_rate or SAMPLE_RATE,
                )
                try:
                    chunks = response.aiter_bytes()
                    while True:
                        when = (
                            first_byte_deadline
                            if audio_s == 0.0
                            else loop.time() + settings.stall_timeout_s
                        )
                        async with asyncio.timeout_at(when):
                            data = await anext(chunks, None)
                        framed = framing.feed(data) if data is not None else framing.finish()
                        pieces = await decoder.feed(framed.audio) if framed.audio else []
                        if data is None:
                            pieces += await decoder.finish()
                        audio_s += sum(len(p.pcm) / p.sample_rate for p in pieces)
                        if pieces or framed.words:
                            yield Received(pieces, framed.words)
                        if data is None:
                            break
                finally:
                    decoder.close()
            finally:
                await response.aclose()
        except TimeoutError:
            if audio_s == 0.0:
                raise RetryableError(
                    f"{settings.speech_url}: no audio within {settings.first_byte_timeout_s:g} s "
                    f"({env_var('first_byte_timeout_s')})"
                ) from None
            raise ServiceError(
                f"{settings.speech_url} sent nothing for {settings.stall_timeout_s:g} s after "
                f"{audio_s:.2f} s of audio ({env_var('stall_timeout_s')})"
            ) from None
        except httpx.TransportError as exc:
            reason = settings.redact(str(exc) or type(exc).__name__)
            if audio_s == 0.0:
                what = "cannot connect" if isinstance(exc, httpx.ConnectError) else "failed"
                if isinstance(exc, httpx.ConnectTimeout):
                    what = f"no connection within {settings.connect_timeout_s:g} s"
                raise RetryableError(f"{settings.speech_url}: {what} ({reason})") from None
            elapsed = time.monotonic() - started
            raise ServiceError(
                f"connection to {settings.speech_url} lost after {audio_s:.2f} s of audio "
                f"({elapsed:.1f} s): {reason}"
            ) from None


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return body[:limit]
