"""OpenAI-compatible HTTP endpoints: speech (audio or SSE), raw PCM stream, voices, models."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from orpheus_service.api.context import Outcome, get_context
from orpheus_service.api.errors import ApiError, error_body
from orpheus_service.api.sessions.session import Session
from orpheus_service.api.transport.encoding import (
    MAX_SPEED,
    MIN_SPEED,
    AudioPipeline,
    ResponseFormat,
)
from orpheus_service.api.transport.streaming import LiveStreamingResponse
from orpheus_service.api.validation import check_input, resolve_voice
from orpheus_service.api.voices import OPENAI_VOICE_ALIASES, served_voices, voice_models
from orpheus_service.engine.events import AudioChunk, EngineEvent
from orpheus_service.vocabulary.voices import ALL_VOICES

MODEL_IDS = ("orpheus", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""Model names accepted (any name is accepted; these are listed by /v1/models)."""


class VoiceRef(BaseModel):
    """OpenAI's custom-voice object: `{"id": "tara"}`."""

    id: str


class SpeechRequest(BaseModel):
    """The body of POST /v1/audio/speech (OpenAI's fields; unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str = "orpheus"
    input: str
    voice: str | VoiceRef | None = None
    response_format: ResponseFormat | None = None
    """None: ORPHEUS_DEFAULT_RESPONSE_FORMAT (wav unless configured)."""
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None
    """Accepted for compatibility; Orpheus takes emotion tags inside the input instead."""

    @property
    def voice_name(self) -> str | None:
        """The voice asked for, whichever form it came in."""
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _first_audio(events: AsyncIterator[EngineEvent], request: Request) -> AudioChunk | None:
    """The first audio chunk (None if the synthesis ends without audio).

    Raises ClientGone if the client disconnects first.
    """

    async def first() -> AudioChunk | None:
        async for event in events:
            if isinstance(event, AudioChunk):
                return event
        return None

    getter = asyncio.ensure_future(first())
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    try:
        await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not getter.done():
            getter.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    if getter.cancelled() or not getter.done():
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        raise ClientGone()
    return getter.result()


class ClientGone(Exception):
    """The HTTP client went away before the response started."""


def _sse(payload: dict[str, object]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def speak(
    request: Request,
    body: SpeechRequest,
    *,
    endpoint: str,
    response_format: str,
    stream_format: str,
) -> Response:
    """Validate, take a channel, wait for the first audio, then stream the rest."""
    ctx = get_context(request)
    text = check_input(ctx.settings, body.input)
    voice = resolve_voice(ctx.settings, body.voice_name)
    session = Session.open(ctx, endpoint, request)
    try:
        pipeline = AudioPipeline(response_format, body.speed)
    except Exception:
        await session.close("error")
        raise
    outcome: list[Outcome] = ["client_gone"]
    try:
        session.start(text, voice)
        events = session.events()
        chunk = await _first_audio(events, request)
    except ClientGone:
        pipeline.close()
        await session.close("client_gone")
        return Response(status_code=499)
    except BaseException:
        pipeline.close()
        await session.close("error")
        raise
    if chunk is None:
        pipeline.close()
        await session.close("error")
        raise ApiError(502, "no_audio", "the synthesis produced no audio")
    sse = stream_format == "sse"

    def frame(data: bytes) -> bytes:
        if not sse:
            return data
        return _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield frame(pipeline.feed(chunk.pcm))
            session.audio_sent(chunk.pcm.shape[0])
            try:
                async for event in events:
                    if isinstance(event, AudioChunk):
                        data = pipeline.feed(event.pcm)
                        if data:
                            yield frame(data)
                        session.audio_sent(event.pcm.shape[0])
            except ApiError as exc:
                outcome[0] = "error"
                if not sse:
                    raise
                yield _sse({"type": "error", **error_body(exc.status, exc.code, exc.message)})
                return
            outcome[0] = "done"
            await session.close("done")  # metrics are in before the client sees the end
            tail = pipeline.finish()
            if tail:
                yield frame(tail)
            if sse:
                tokens = len(text.split())
                stats = session.synthesis.stats if session.synthesis is not None else None
                output = stats.tokens.tokens if stats is not None else 0
                yield _sse(
                    {
                        "type": "speech.audio.done",
                        "usage": {
                            "input_tokens": tokens,
                            "output_tokens": output,
                            "total_tokens": tokens + output,
                        },
                    }
                )
        finally:
            pipeline.close()

    async def done(client_gone: bool) -> None:
        await session.close("client_gone" if client_gone and outcome[0] != "done" else outcome[0])

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    media_type = "text/event-stream" if sse else pipeline.media_type
    return LiveStreamingResponse(
        chunks(),
        media_type=media_type,
        headers=headers,
        on_done=done,
        send_timeout_s=ctx.settings.session_idle_timeout_s,
    )


router = APIRouter()


@router.post("/v1/audio/speech")
async def create_speech(request: Request, body: SpeechRequest) -> Response:
    """OpenAI's speech endpoint: audio streamed as it is synthesized (or SSE events)."""
    return await speak(
        request,
        body,
        endpoint="speech",
        response_format=body.response_format
        or get_context(request).settings.default_response_format,
        stream_format=body.stream_format,
    )


@router.post("/v1/audio/speech/stream")
async def stream_speech(request: Request, body: SpeechRequest) -> Response:
    """Raw 16-bit little-endian mono PCM at 24 kHz, streamed (as Orpheus-FastAPI's endpoint)."""
    return await speak(
        request, body, endpoint="speech_stream", response_format="pcm", stream_format="audio"
    )


@router.get("/v1/audio/voices")
async def list_voices(request: Request) -> dict[str, object]:
    """Every voice name accepted, the default, each model with its voices (the served one
    first), and OpenAI's voice names with the Orpheus voice each maps to."""
    ctx = get_context(request)
    return {
        "voices": list(ALL_VOICES),
        "default": ctx.settings.default_voice,
        "models": voice_models(ctx.settings.model_name),
        "aliases": OPENAI_VOICE_ALIASES,
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, object]:
    """Model ids, OpenAI-style, each with the voices of the served model."""
    ctx = get_context(request)
    ids = [*MODEL_IDS, ctx.settings.model_name]
    voices = served_voices(ctx.settings.model_name)
    return {
        "object": "list",
        "data": [
            {"id": i, "object": "model", "created": 0, "owned_by": "orpheus", "voices": voices}
            for i in ids
        ],
    }
