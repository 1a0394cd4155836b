"""WebSocket endpoints: unmute's msgpack protocol and the seed's text-in, PCM-out socket.

`/api/tts_streaming` (unmute's TTS client, unchanged): query
`format=PcmMessagePack&voice=NAME`, optionally `temperature`, `top_p` and
`repetition_penalty` (sampling for this session only, within the bounds of the
ORPHEUS_* settings of the same names; other query keys are ignored), key in the
`kyutai-api-key` header (or `Authorization: Bearer`; checked by ApiKeyMiddleware
before the handshake completes). The server sends `Ready`,
the client sends `Text{text}` messages word by word as the LLM writes them and
`Eos{}`; the server streams `Text{text,start_s,stop_s}` and `Audio{pcm}` (float32
mono 24 kHz) and, after Eos, finishes and closes normally (1000). Failures send
`Error{message}` then close (no channel free: "no free channels", 1013; bad
message: 1003; bad query value: 1008; synthesis failure: 1011). A client that
sends nothing (neither Text nor Eos) for ORPHEUS_SESSION_IDLE_TIMEOUT_S gets
`Error{"idle timeout"}` and a close (1008), which frees its channel. Frames are
binary msgpack maps; text frames holding the same maps as JSON are accepted too.

`/v1/audio/speech/stream/ws?voice=NAME` (the seed's protocol): the client sends
the text in one text frame (plain, or a JSON object with `input` and optional
`voice`); the server streams 16-bit little-endian PCM in binary frames and closes
(1000) at the end. Errors come as a JSON text frame `{"type": "error", ...}`
before the close.

In both, a client that goes away cancels the synthesis (and its llama request) at
once: a reader task watches the socket while the writer streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from orpheus_service.api.encoding import float_to_pcm16
from orpheus_service.engine.pipeline import AudioChunk, WordTiming
from orpheus_service.engine.prompt import UnknownVoiceError, check_voice, clean_text
from orpheus_service.api.routes_openai import get_context
from orpheus_service.api.sessions import (
    NO_FREE_CHANNELS,
    CapacityError,
    Outcome,
    ServiceContext,
    ServiceError,
    Session,
    TextFeed,
)
from orpheus_service.settings import parse_sampling_overrides
from unmute.tts.protocol import TTSClientEosMessage, TTSClientMessageAdapter, TTSClientTextMessage

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013


class ProtocolError(Exception):
    """The client sent something the protocol does not allow."""

    def __init__(self, message: str, code: int = CLOSE_UNSUPPORTED) -> None:
        super().__init__(message)
        self.code = code


class IdleTimeoutError(ProtocolError):
    """The client sent nothing for the session idle timeout."""

    def __init__(self) -> None:
        super().__init__(IDLE_TIMEOUT, CLOSE_POLICY)


IDLE_TIMEOUT = "idle timeout"


def _short(reason: str) -> str:
    """A close reason within the protocol's 123 bytes."""
    return reason.encode()[:120].decode(errors="ignore")


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=_short(reason))


async def _send_quietly(send: Callable[[], Awaitable[None]]) -> None:
    with contextlib.suppress(Exception):
        await send()


async def _race(
    reader: Awaitable[None], writer: Awaitable[Outcome]
) -> tuple[Outcome, BaseException | None]:
    """Run reader and writer; the first to end decides. Returns (outcome, error)."""
    read_task = asyncio.ensure_future(reader)
    write_task = asyncio.ensure_future(writer)
    try:
        await asyncio.wait({read_task, write_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (read_task, write_task):
            task.cancel()
        await asyncio.gather(read_task, write_task, return_exceptions=True)
    if write_task.done() and not write_task.cancelled():
        error = write_task.exception()
        if error is None:
            return write_task.result(), None
        if isinstance(error, WebSocketDisconnect | OSError):
            return "client_gone", None
        return "error", error
    if read_task.cancelled():
        return "shutdown", None
    error = read_task.exception()
    if error is None or isinstance(error, WebSocketDisconnect | OSError):
        return "client_gone", None
    return "error", error


def _error_text(ctx: ServiceContext, error: BaseException) -> tuple[str, int]:
    if isinstance(error, IdleTimeoutError):
        ctx.metrics.errors.labels("idle_timeout").inc()
        return str(error), error.code
    if isinstance(error, ProtocolError):
        ctx.metrics.errors.labels("bad_client_message").inc()
        return str(error), error.code
    if isinstance(error, ServiceError):
        return error.message, CLOSE_INTERNAL
    return f"internal error: {type(error).__name__}", CLOSE_INTERNAL


# -- unmute's msgpack protocol -------------------------------------------------------------


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


async def _write_msgpack(websocket: WebSocket, session: Session) -> Outcome:
    async for event in session.events():
        if isinstance(event, WordTiming):
            await websocket.send_bytes(
                _pack(
                    {
                        "type": "Text",
                        "text": event.word,
                        "start_s": event.start_s,
                        "stop_s": event.stop_s,
                    }
                )
            )
        elif isinstance(event, AudioChunk):
            # float32 on the wire: the samples are float32 already, half the bytes of doubles.
            await websocket.send_bytes(
                _pack({"type": "Audio", "pcm": event.pcm.tolist()}, single_float=True)
            )
            session.audio_sent(event.pcm.shape[0])
    return "done"


async def _refuse(
    websocket: WebSocket, send: Callable[[str], Awaitable[None]], message: str, code: int
) -> None:
    await _send_quietly(lambda: send(message))
    await _close(websocket, code, message)


async def _serve_session(
    ctx: ServiceContext,
    websocket: WebSocket,
    session: Session,
    send_error: Callable[[str], Awaitable[None]],
    reader: Awaitable[None],
    writer: Awaitable[Outcome],
) -> Outcome:
    """Race the client reader and the audio writer, end the session, tell the client."""
    outcome, error = await _race(reader, writer)
    await session.close(outcome)
    if error is not None:
        text, code = _error_text(ctx, error)
        await _refuse(websocket, send_error, text, code)
    elif outcome == "done":
        await _close(websocket, CLOSE_NORMAL)
    return outcome


@router.websocket("/api/tts_streaming")
async def tts_streaming(websocket: WebSocket) -> None:
    """unmute's TTS WebSocket protocol (msgpack)."""
    ctx = get_context(websocket)
    await websocket.accept()

    async def send_error(text: str) -> None:
        await websocket.send_bytes(_pack({"type": "Error", "message": text}))

    fmt = websocket.query_params.get("format", "PcmMessagePack")
    if fmt != "PcmMessagePack":
        await _refuse(
            websocket, send_error, f"unsupported format {fmt!r}: only PcmMessagePack", CLOSE_POLICY
        )
        return
    try:
        voice = _voice(ctx, websocket.query_params.get("voice"))
        sampling = parse_sampling_overrides(websocket.query_params)
        session = Session.open(ctx, "tts_streaming")
    except (ServiceError, ValueError) as exc:  # UnknownVoiceError is a ValueError
        code = CLOSE_TRY_AGAIN if isinstance(exc, CapacityError) else CLOSE_POLICY
        await _refuse(websocket, send_error, _message(exc), code)
        return
    feed = TextFeed()
    outcome: Outcome = "shutdown"
    try:
        session.start(feed, voice, sampling)
        await websocket.send_bytes(_pack({"type": "Ready"}))
        idle_timeout_s = ctx.settings.session_idle_timeout_s
        outcome = await _serve_session(
            ctx,
            websocket,
            session,
            send_error,
            _read_words(websocket, feed, idle_timeout_s),
            _write_msgpack(websocket, session),
        )
    except (WebSocketDisconnect, OSError):
        outcome = "client_gone"
    finally:
        await session.close(outcome)
        await _close(websocket, CLOSE_NORMAL if outcome == "done" else CLOSE_INTERNAL)


def _voice(ctx: ServiceContext, voice: str | None) -> str:
    if voice is None or not voice.strip():
        return ctx.settings.default_voice
    return check_voice(voice)


def _message(exc: BaseException) -> str:
    if isinstance(exc, CapacityError):
        return NO_FREE_CHANNELS
    return exc.message if isinstance(exc, ServiceError) else str(exc)


# -- the seed's text-in, PCM-out socket --------------------------------------------------


def parse_seed_request(message: Mapping[str, Any]) -> tuple[str, str | None]:
    """(text, voice or None) from the client's first frame."""
    if message.get("text") is None:
        raise ProtocolError("expected a text frame holding the text to speak")
    raw = cast(str, message["text"])
    voice: str | None = None
    if raw.lstrip().startswith("{"):
        try:
            data: Any = json.loads(raw)
        except ValueError:
            raise ProtocolError("malformed JSON frame", CLOSE_INVALID) from None
        if not isinstance(data, dict):
            raise ProtocolError("expected a JSON object", CLOSE_INVALID)
        fields = cast(dict[str, Any], data)
        text = fields.get("input", fields.get("text"))
        voice_field = fields.get("voice")
        if not isinstance(text, str) or not (voice_field is None or isinstance(voice_field, str)):
            raise ProtocolError("the JSON object needs a string 'input'", CLOSE_INVALID)
        raw, voice = text, voice_field
    if not clean_text(raw):
        raise ProtocolError("input is empty: there is nothing to speak", CLOSE_INVALID)
    return raw, voice


async def _watch_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return  # further frames are ignored


async def _write_pcm(websocket: WebSocket, session: Session) -> Outcome:
    async for event in session.events():
        if isinstance(event, AudioChunk):
            await websocket.send_bytes(float_to_pcm16(event.pcm))
            session.audio_sent(event.pcm.shape[0])
    return "done"


@router.websocket("/v1/audio/speech/stream/ws")
async def speech_stream_ws(websocket: WebSocket) -> None:
    """The seed's WebSocket: one text frame in, 16-bit PCM binary frames out."""
    ctx = get_context(websocket)
    await websocket.accept()

    async def send_error(text: str) -> None:
        await websocket.send_text(json.dumps({"type": "error", "error": text}))

    try:
        voice = _voice(ctx, websocket.query_params.get("voice"))
        session = Session.open(ctx, "speech_ws")
    except (ServiceError, UnknownVoiceError) as exc:
        code = CLOSE_TRY_AGAIN if isinstance(exc, CapacityError) else CLOSE_POLICY
        await _refuse(websocket, send_error, _message(exc), code)
        return
    outcome: Outcome = "shutdown"
    try:
        first = await websocket.receive()
        if first["type"] == "websocket.disconnect":
            outcome = "client_gone"
            return
        try:
            text, asked = parse_seed_request(first)
            chosen = voice if asked is None else _voice(ctx, asked)
        except (ProtocolError, UnknownVoiceError) as exc:
            outcome = "error"
            code = exc.code if isinstance(exc, ProtocolError) else CLOSE_POLICY
            await _refuse(websocket, send_error, str(exc), code)
            return
        session.start(text, chosen)
        outcome = await _serve_session(
            ctx,
            websocket,
            session,
            send_error,
            _watch_disconnect(websocket),
            _write_pcm(websocket, session),
        )
    except (WebSocketDisconnect, OSError):
        outcome = "client_gone"
    finally:
        await session.close(outcome)
        await _close(websocket, CLOSE_NORMAL if outcome == "done" else CLOSE_INTERNAL)
