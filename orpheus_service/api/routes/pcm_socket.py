"""`/v1/audio/speech/stream/ws?voice=NAME`: Orpheus-FastAPI's text-in, PCM-out WebSocket.

The client sends the text in one text frame (plain, or a JSON object with `input`
and optional `voice`); the server streams 16-bit little-endian PCM in binary frames
and closes (1000) at the end. Errors come as a JSON text frame
`{"type": "error", ...}` before the close: no text frame within
ORPHEUS_SESSION_IDLE_TIMEOUT_S, or audio left unread that long: "idle timeout..."
(1008); text over ORPHEUS_MAX_INPUT_CHARS (1009); text that is empty or not valid
Unicode (1007).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from orpheus_service.api.context import Outcome, get_context
from orpheus_service.api.errors import ApiError
from orpheus_service.api.sessions.session import Session
from orpheus_service.api.transport.encoding import float_to_pcm16
from orpheus_service.api.transport.websocket import (
    CLOSE_INVALID,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    IdleTimeoutError,
    ProtocolError,
    check_frame_size,
    end_session,
    frame_limit,
    load_json_frame,
    receive_within,
    refuse,
    refuse_opening,
    send_within,
    serve_session,
)
from orpheus_service.api.validation import check_input, resolve_voice
from orpheus_service.engine.events import AudioChunk
from orpheus_service.vocabulary.prompt import clean_text

router = APIRouter()


def parse_pcm_socket_request(message: Mapping[str, Any]) -> tuple[str, str | None]:
    """(text, voice or None) from the client's first frame."""
    if message.get("text") is None:
        raise ProtocolError("expected a text frame holding the text to speak")
    raw = cast(str, message["text"])
    voice: str | None = None
    if raw.lstrip().startswith("{"):
        data = load_json_frame(raw)
        if not isinstance(data, dict):
            raise ProtocolError("expected a JSON object", CLOSE_INVALID)
        fields = cast(dict[str, Any], data)
        text = fields.get("input", fields.get("text"))
        voice_field = fields.get("voice")
        if not isinstance(text, str):
            raise ProtocolError("the JSON object needs a string 'input'", CLOSE_INVALID)
        if not (voice_field is None or isinstance(voice_field, str)):
            raise ProtocolError("'voice' must be a string (a voice name)", CLOSE_INVALID)
        raw, voice = text, voice_field
    if not clean_text(raw):
        raise ProtocolError("input is empty: there is nothing to speak", CLOSE_INVALID)
    return raw, voice


async def _watch_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return  # further frames are ignored


async def _write_pcm(websocket: WebSocket, session: Session, idle_timeout_s: float) -> Outcome:
    async for event in session.events():
        if isinstance(event, AudioChunk):
            await send_within(websocket.send_bytes(float_to_pcm16(event.pcm)), idle_timeout_s)
            session.audio_sent(event.pcm.shape[0])
    return "done"


@router.websocket("/v1/audio/speech/stream/ws")
async def speech_stream_ws(websocket: WebSocket) -> None:
    """Orpheus-FastAPI's WebSocket: one text frame in, 16-bit PCM binary frames out."""
    ctx = get_context(websocket)
    await websocket.accept()

    async def send_error(text: str) -> None:
        await websocket.send_text(json.dumps({"type": "error", "error": text}))

    try:
        voice = resolve_voice(ctx.settings, websocket.query_params.get("voice"))
        session = Session.open(ctx, "speech_ws", websocket)
    except ApiError as exc:
        await refuse_opening(websocket, send_error, exc)
        return
    outcome: Outcome = "shutdown"
    idle_timeout_s = ctx.settings.session_idle_timeout_s
    try:
        try:
            first = await receive_within(websocket, idle_timeout_s)
            if first["type"] == "websocket.disconnect":
                outcome = "client_gone"
                return
            limit = frame_limit(ctx.settings.max_input_chars)
            check_frame_size(first, limit)  # refused before it is decoded
            text, asked = parse_pcm_socket_request(first)
            check_input(ctx.settings, text)
            chosen = voice if asked is None else resolve_voice(ctx.settings, asked)
        except ProtocolError as exc:
            outcome = "error"
            idle = isinstance(exc, IdleTimeoutError)
            ctx.metrics.errors.labels("idle_timeout" if idle else "bad_client_message").inc()
            await refuse(websocket, send_error, str(exc), exc.code)
            return
        except ApiError as exc:
            outcome = "error"
            await refuse(websocket, send_error, exc.message, _close_code(exc))
            return
        session.start(text, chosen)
        outcome = await serve_session(
            ctx,
            websocket,
            session,
            send_error,
            _watch_disconnect(websocket),
            _write_pcm(websocket, session, idle_timeout_s),
        )
    except (WebSocketDisconnect, OSError):
        outcome = "client_gone"
    finally:
        await end_session(websocket, session, outcome)


def _close_code(exc: ApiError) -> int:
    """The close code of a refused request: its text too long, not speakable, or else."""
    if exc.code == "input_too_long":
        return CLOSE_TOO_BIG
    if exc.code in ("invalid_text", "empty_input"):
        return CLOSE_INVALID
    return CLOSE_POLICY
