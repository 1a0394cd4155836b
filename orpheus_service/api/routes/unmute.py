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
Eos) for ORPHEUS_SESSION_IDLE_TIMEOUT_S, or leaves the audio unread that long, gets
`Error{"idle timeout..."}` and a close (1008), which frees its channel. Messages are
read at most ORPHEUS_MAX_TEXT_MESSAGES_PER_S (after a burst of as many); a faster
client's sends wait on TCP. One message,
and the session's whole text, may carry ORPHEUS_MAX_INPUT_CHARS characters (past it:
an Error naming the limit, 1009); text that is not valid Unicode (a lone surrogate
from a JSON escape) is an Error naming it (1007). Frames are binary msgpack maps;
text frames holding the same maps as JSON are accepted too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
import numpy.typing as npt
from aiolimiter import AsyncLimiter
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from orpheus_service.api.context import Outcome, get_context
from orpheus_service.api.errors import ApiError
from orpheus_service.api.sessions.session import Session
from orpheus_service.api.transport.encoding import MAX_SPEED, MIN_SPEED, TempoChanger
from orpheus_service.api.transport.text_feed import TextFeed, TextLimitError
from orpheus_service.api.transport.websocket import (
    CLOSE_INVALID,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
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
from orpheus_service.api.validation import check_text, resolve_voice
from orpheus_service.engine.events import AudioChunk, WordTiming
from orpheus_service.vocabulary.sampling import SamplingOverrides
from unmute.tts.protocol import (
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientMessageAdapter,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSReadyMessage,
    TTSTextMessage,
    encode_frame,
)

router = APIRouter()


def parse_client_message(message: Mapping[str, Any]) -> TTSClientTextMessage | TTSClientEosMessage:
    """One client frame (an ASGI websocket.receive message) as a client message."""
    data: Any
    if message.get("bytes") is not None:
        try:
            unpackb = cast(Callable[..., Any], msgpack.unpackb)  # pyright: ignore[reportUnknownMemberType]
            data = unpackb(cast(bytes, message["bytes"]), raw=False)
        except Exception as exc:
            raise ProtocolError(f"malformed msgpack frame: {type(exc).__name__}") from None
    elif message.get("text") is not None:
        data = load_json_frame(cast(str, message["text"]))
    else:
        raise ProtocolError("empty frame")
    try:
        return TTSClientMessageAdapter.validate_python(data)
    except ValidationError:
        raise ProtocolError(
            "malformed message: expected a map {type: 'Text', text: str} or {type: 'Eos'}"
        ) from None


async def _read_words(
    websocket: WebSocket, feed: TextFeed, idle_timeout_s: float, pace: AsyncLimiter
) -> None:
    """Feed the client's words, reading at most at `pace`; until Eos, `idle_timeout_s`
    (0: none) without a frame raises IdleTimeoutError; text past the feed's limit or not
    valid Unicode raises ProtocolError."""
    max_frame = frame_limit(feed.max_chars) if feed.max_chars is not None else None
    while True:
        await pace.acquire()  # waiting here is ours: it does not count as the client idle
        message = await receive_within(websocket, 0 if feed.ended else idle_timeout_s)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(int(message.get("code") or 1000))
        check_frame_size(message, max_frame)  # refused before it is decoded
        parsed = parse_client_message(message)
        await asyncio.sleep(0)  # a burst of queued frames never holds the loop
        if isinstance(parsed, TTSClientEosMessage):
            feed.end()
            continue
        try:
            feed.push_words(check_text(parsed.text, "the Text message"))
        except ApiError as exc:
            raise ProtocolError(exc.message, CLOSE_INVALID) from None
        except TextLimitError as exc:
            raise ProtocolError(str(exc), CLOSE_TOO_BIG) from None


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


async def _write_msgpack(
    websocket: WebSocket, session: Session, speed: float = 1.0, idle_timeout_s: float = 0.0
) -> Outcome:
    """Stream the session's words and audio at `speed`; ClientStalledError when one send
    stays blocked (the client does not read) for `idle_timeout_s` (0: no limit)."""
    tempo = None if math.isclose(speed, 1.0) else TempoChanger(speed)

    async def send_audio(pcm: npt.NDArray[np.float32]) -> None:
        if pcm.size:
            # float32 on the wire: the samples are float32 already, half the bytes of doubles.
            frame = encode_frame(TTSAudioMessage(pcm=pcm), single_float=True)
            await send_within(websocket.send_bytes(frame), idle_timeout_s)

    async for event in session.events():
        if isinstance(event, WordTiming):
            start_s, stop_s = event.start_s / speed, event.stop_s / speed
            word = TTSTextMessage(text=event.word, start_s=start_s, stop_s=stop_s)
            await send_within(websocket.send_bytes(encode_frame(word)), idle_timeout_s)
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
        await websocket.send_bytes(encode_frame(TTSErrorMessage(message=text)))

    fmt = websocket.query_params.get("format", "PcmMessagePack")
    if fmt != "PcmMessagePack":
        message = f"unsupported format {fmt!r}: only PcmMessagePack"
        await refuse(websocket, send_error, message, CLOSE_POLICY)
        return
    try:
        voice = resolve_voice(ctx.settings, websocket.query_params.get("voice"))
        sampling = SamplingOverrides.from_query(websocket.query_params)
        speed = parse_speed(websocket.query_params)
        session = Session.open(ctx, "tts_streaming", websocket)
    except ApiError as exc:
        await refuse_opening(websocket, send_error, exc)
        return
    except ValueError as exc:  # a sampling or speed value out of bounds
        await refuse(websocket, send_error, str(exc), CLOSE_POLICY)
        return
    feed = TextFeed(ctx.settings.max_input_chars)
    rate = ctx.settings.max_text_messages_per_s
    pace = AsyncLimiter(rate, 1.0)  # a burst of `rate` messages, then `rate` a second
    outcome: Outcome = "shutdown"
    try:
        session.start(feed, voice, sampling)
        await websocket.send_bytes(encode_frame(TTSReadyMessage()))
        idle_timeout_s = ctx.settings.session_idle_timeout_s
        outcome = await serve_session(
            ctx,
            websocket,
            session,
            send_error,
            _read_words(websocket, feed, idle_timeout_s, pace),
            _write_msgpack(websocket, session, speed, idle_timeout_s),
        )
    except (WebSocketDisconnect, OSError):
        outcome = "client_gone"
    finally:
        await end_session(websocket, session, outcome)
