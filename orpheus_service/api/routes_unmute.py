"""`/api/tts_streaming`: unmute's TTS WebSocket protocol (msgpack), unchanged.

Query `format=PcmMessagePack&voice=NAME`, optionally `temperature`, `top_p` and
`repetition_penalty` (sampling for this session only, within the bounds of the
ORPHEUS_* settings of the same names) and `speed` (0.25 to 4, same pitch; word times
follow it; the playground's slider); other query keys are ignored; key in the
`kyutai-api-key` header (or `Authorization: Bearer`; checked by ApiKeyMiddleware
before the handshake completes). The server sends `Ready`, the client sends
`Text{text}` messages word by word as the LLM writes them and `Eos{}`; the server
streams `Text{text,start_s,stop_s}` and `Audio{pcm}` (float32 mono 24 kHz) and,
after Eos, finishes and closes normally (1000). Failures send `Error{message}` then
close (no channel free: "no free channels", 1013; bad message: 1003; bad query
value: 1008; synthesis failure: 1011). A client that sends nothing (neither Text nor
Eos) for ORPHEUS_SESSION_IDLE_TIMEOUT_S gets `Error{"idle timeout"}` and a close
(1008), which frees its channel. Frames are binary msgpack maps; text frames holding
the same maps as JSON are accepted too.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from orpheus_service.api.context import Outcome, get_context
from orpheus_service.api.encoding import MAX_SPEED, MIN_SPEED, TempoChanger
from orpheus_service.api.errors import ServiceError
from orpheus_service.api.sessions import Session
from orpheus_service.api.text_feed import TextFeed
from orpheus_service.api.validation import resolve_voice
from orpheus_service.api.websocket import (
    CLOSE_INVALID,
    CLOSE_POLICY,
    IdleTimeoutError,
    ProtocolError,
    end_session,
    refuse,
    refuse_opening,
    serve_session,
)
from orpheus_service.engine.events import AudioChunk, WordTiming
from orpheus_service.settings import parse_sampling_overrides
from unmute.tts.protocol import TTSClientEosMessage, TTSClientMessageAdapter, TTSClientTextMessage

router = APIRouter()


def _pack(message: dict[str, Any], *, single_float: bool = False) -> bytes:
    packb = cast(Callable[..., bytes], msgpack.packb)  # pyright: ignore[reportUnknownMemberType]
    return packb(message, use_single_float=single_float)


def parse_client_message(
    message: Mapping[str, Any],
) -> TTSClientTextMessage | TTSClientEosMessage:
    """One client frame (an ASGI websocket.receive message) as a client message."""
    data: Any
    if message.get("bytes") is not None:
        try:
            unpackb = cast(Callable[..., Any], msgpack.unpackb)  # pyright: ignore[reportUnknownMemberType]
            data = unpackb(cast(bytes, message["bytes"]), raw=False)
        except Exception as exc:
            raise ProtocolError(f"malformed msgpack frame: {type(exc).__name__}") from None
    elif message.get("text") is not None:
        try:
            data = json.loads(cast(str, message["text"]))
        except ValueError:
            raise ProtocolError("malformed JSON frame", CLOSE_INVALID) from None
    else:
        raise ProtocolError("empty frame")
    try:
        return TTSClientMessageAdapter.validate_python(data)
    except ValidationError:
        raise ProtocolError(
            "malformed message: expected a map {type: 'Text', text: str} or {type: 'Eos'}"
        ) from None


async def _read_words(websocket: WebSocket, feed: TextFeed, idle_timeout_s: float) -> None:
    """Feed the client's words; until Eos, `idle_timeout_s` (0: none) without a frame
    raises IdleTimeoutError."""
    while True:
        if feed.ended or idle_timeout_s <= 0:
            message = await websocket.receive()
        else:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    message = await websocket.receive()
            except TimeoutError:
                raise IdleTimeoutError() from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(int(message.get("code") or 1000))
        parsed = parse_client_message(message)
        if isinstance(parsed, TTSClientEosMessage):
            feed.end()
        else:
            feed.push_words(parsed.text)


def parse_speed(values: Mapping[str, str]) -> float:
    """The `speed` query value (1.0 when absent); ValueError when not within bounds."""
    raw = values.get("speed")
    if raw is None:
        return 1.0
    try:
        speed = float(raw)
    except ValueError:
        raise ValueError(f"speed must be a number, got {raw!r}") from None
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be within {MIN_SPEED}..{MAX_SPEED}, got {raw}")
    return speed


async def _write_msgpack(websocket: WebSocket, session: Session, speed: float = 1.0) -> Outcome:
    tempo = None if math.isclose(speed, 1.0) else TempoChanger(speed)

    async def send_audio(pcm: npt.NDArray[np.float32]) -> None:
        if pcm.size:
            # float32 on the wire: the samples are float32 already, half the bytes of doubles.
            await websocket.send_bytes(
                _pack({"type": "Audio", "pcm": pcm.tolist()}, single_float=True)
            )

    async for event in session.events():
        if isinstance(event, WordTiming):
            await websocket.send_bytes(
                _pack(
                    {
                        "type": "Text",
                        "text": event.word,
                        "start_s": event.start_s / speed,
                        "stop_s": event.stop_s / speed,
                    }
                )
            )
        elif isinstance(event, AudioChunk):
            await send_audio(event.pcm if tempo is None else tempo.process(event.pcm))
            session.audio_sent(event.pcm.shape[0])
    if tempo is not None:
        await send_audio(tempo.finish())
    return "done"


@router.websocket("/api/tts_streaming")
async def tts_streaming(websocket: WebSocket) -> None:
    """unmute's TTS WebSocket protocol (msgpack)."""
    ctx = get_context(websocket)
    await websocket.accept()

    async def send_error(text: str) -> None:
        await websocket.send_bytes(_pack({"type": "Error", "message": text}))

    fmt = websocket.query_params.get("format", "PcmMessagePack")
    if fmt != "PcmMessagePack":
        message = f"unsupported format {fmt!r}: only PcmMessagePack"
        await refuse(websocket, send_error, message, CLOSE_POLICY)
        return
    try:
        voice = resolve_voice(ctx.settings, websocket.query_params.get("voice"))
        sampling = parse_sampling_overrides(websocket.query_params)
        speed = parse_speed(websocket.query_params)
        session = Session.open(ctx, "tts_streaming")
    except ServiceError as exc:
        await refuse_opening(websocket, send_error, exc)
        return
    except ValueError as exc:  # a sampling or speed value out of bounds
        await refuse(websocket, send_error, str(exc), CLOSE_POLICY)
        return
    feed = TextFeed()
    outcome: Outcome = "shutdown"
    try:
        session.start(feed, voice, sampling)
        await websocket.send_bytes(_pack({"type": "Ready"}))
        idle_timeout_s = ctx.settings.session_idle_timeout_s
        outcome = await serve_session(
            ctx,
            websocket,
            session,
            send_error,
            _read_words(websocket, feed, idle_timeout_s),
            _write_msgpack(websocket, session, speed),
        )
    except (WebSocketDisconnect, OSError):
        outcome = "client_gone"
    finally:
        await end_session(websocket, session, outcome)
