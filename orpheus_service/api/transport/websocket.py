"""What both WebSocket protocols share: close codes, protocol errors, and `serve_session`,
which races the client reader against the audio writer and tells the client how it ended.

A client that goes away cancels the synthesis (and its llama request) at once: the
reader task watches the socket while the writer streams. Every wait on the client is
bounded by ORPHEUS_SESSION_IDLE_TIMEOUT_S: a client that sends nothing when text is
due (`receive_within`) or leaves the audio unread (`send_within`) gets an error and a
close (1008), and the channel goes back; closing never waits longer than
CLOSE_WAIT_S on a client that does not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.types import Message
from starlette.websockets import WebSocketState

from orpheus_service.api.context import Outcome, ServiceContext
from orpheus_service.api.errors import ApiError, CapacityError
from orpheus_service.api.sessions.session import Session

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013

IDLE_TIMEOUT = "idle timeout"
CLOSE_WAIT_S = 5.0
"""The longest the service waits to send a last error frame or close a socket."""

SendError = Callable[[str], Awaitable[None]]
"""Sends an error message in the protocol's own frame format."""


class ProtocolError(Exception):
    """The client sent something the protocol does not allow."""

    def __init__(self, message: str, code: int = CLOSE_UNSUPPORTED) -> None:
        super().__init__(message)
        self.code = code


class IdleTimeoutError(ProtocolError):
    """The client sent nothing for the session idle timeout."""

    def __init__(self) -> None:
        super().__init__(IDLE_TIMEOUT, CLOSE_POLICY)


class ClientStalledError(ProtocolError):
    """The client left the audio unread for the session idle timeout."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"idle timeout: the audio was left unread for {timeout_s:g} s", CLOSE_POLICY
        )


async def receive_within(websocket: WebSocket, idle_timeout_s: float) -> Message:
    """The client's next frame; IdleTimeoutError after `idle_timeout_s` (0: no limit)."""
    if idle_timeout_s <= 0:
        return await websocket.receive()
    try:
        async with asyncio.timeout(idle_timeout_s):
            return await websocket.receive()
    except TimeoutError:
        raise IdleTimeoutError() from None


async def send_within(send: Awaitable[Any], idle_timeout_s: float) -> None:
    """Await a send; ClientStalledError if it is still blocked (the client does not read)
    after `idle_timeout_s` (0: no limit)."""
    if idle_timeout_s <= 0:
        await send
        return
    try:
        async with asyncio.timeout(idle_timeout_s):
            await send
    except TimeoutError:
        raise ClientStalledError(idle_timeout_s) from None


def frame_limit(max_chars: int) -> int:
    """The largest frame (bytes or characters) that can hold `max_chars` characters of
    text, however encoded (a character outside the BMP, JSON-escaped as a surrogate
    pair, takes 12)."""
    return 12 * max_chars + 1024


def check_frame_size(message: Mapping[str, Any], max_frame: int | None) -> None:
    """ProtocolError (1009) for a frame longer than `max_frame`, before it is decoded."""
    raw = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    if max_frame is not None and raw is not None and len(raw) > max_frame:
        raise ProtocolError(
            f"a frame of {len(raw)} bytes is more than ORPHEUS_MAX_INPUT_CHARS characters "
            "of text can take",
            CLOSE_TOO_BIG,
        )


def load_json_frame(text: str) -> Any:
    """The value of a JSON text frame; ProtocolError (1007) when it is malformed or
    nested too deeply to parse."""
    try:
        return json.loads(text)
    except ValueError:
        raise ProtocolError("malformed JSON frame", CLOSE_INVALID) from None
    except RecursionError:
        raise ProtocolError("JSON frame nested too deeply", CLOSE_INVALID) from None


def _short(reason: str) -> str:
    """A close reason within the protocol's 123 bytes."""
    return reason.encode()[:120].decode(errors="ignore")


async def close_socket(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close the socket if it is still open, once: a close that could not complete (a
    client that does not read) is not replaced by another code. Errors are ignored."""
    if getattr(websocket.state, "close_sent", False):
        return
    if websocket.application_state == WebSocketState.CONNECTED:
        websocket.state.close_sent = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await websocket.close(code=code, reason=_short(reason))


async def refuse(websocket: WebSocket, send_error: SendError, message: str, code: int) -> None:
    """Send `message` as an error frame (if the client still listens), then close."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_WAIT_S):
            await send_error(message)
    await close_socket(websocket, code, message)


async def refuse_opening(websocket: WebSocket, send_error: SendError, exc: ApiError) -> None:
    """Refuse a session that could not open: no free channel (1013) or a bad request (1008)."""
    if isinstance(exc, CapacityError):
        await refuse(websocket, send_error, exc.message, CLOSE_TRY_AGAIN)
    else:
        await refuse(websocket, send_error, exc.message, CLOSE_POLICY)


async def end_session(websocket: WebSocket, session: Session, outcome: Outcome) -> None:
    """Close the session (idempotent) and the socket: normally after "done", else 1011."""
    await session.close(outcome)
    await close_socket(websocket, CLOSE_NORMAL if outcome == "done" else CLOSE_INTERNAL)


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
    if isinstance(error, IdleTimeoutError | ClientStalledError):
        ctx.metrics.errors.labels("idle_timeout").inc()
        return str(error), error.code
    if isinstance(error, ProtocolError):
        ctx.metrics.errors.labels("bad_client_message").inc()
        return str(error), error.code
    if isinstance(error, ApiError):
        return error.message, CLOSE_INTERNAL
    return f"internal error: {type(error).__name__}", CLOSE_INTERNAL


async def serve_session(
    ctx: ServiceContext,
    websocket: WebSocket,
    session: Session,
    send_error: SendError,
    reader: Awaitable[None],
    writer: Awaitable[Outcome],
) -> Outcome:
    """Race the client reader and the audio writer, end the session, tell the client."""
    outcome, error = await _race(reader, writer)
    await session.close(outcome)
    if error is not None:
        text, code = _error_text(ctx, error)
        await refuse(websocket, send_error, text, code)
    elif outcome == "done":
        await close_socket(websocket, CLOSE_NORMAL)
    return outcome
