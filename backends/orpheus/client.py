"""`OrpheusTextToSpeech`: unmute's TTS client for the Orpheus service, over WebSocket.

Protocol (unmute's, at `/api/tts_streaming?format=PcmMessagePack&voice=...`): binary
frames, each a msgpack map. The service sends `Ready` first, then `Audio{pcm}` (float32
mono 24 kHz) and `Text{text, start_s, stop_s}` as it speaks, `Error{message}` when it
fails; the client sends `Text{text}` per word and `Eos{}` at the end, after which the
service finishes and closes normally.

Failure handling, split between this class and the base:

- `_open` (connect, wait for Ready) raises `RetryableError` for what may pass: refused
  or reset connections, timeouts, HTTP 408/425/429/5xx (a Modal container still cold
  starting), and the service's "no free channels". The base retries those with
  backoff inside the start-up budget. HTTP 401/403 (wrong or missing key) and other
  refusals raise `OrpheusAuthError`/`BackendError` at once: no retry loop.
- In `_synthesize`, a service Error or a connection lost before the end raises; the
  base turns it into the stream's final Error message. Nothing after Ready is ever
  retried, so no speech is repeated.
- `_close` closes the socket (the service then cancels its llama request); the close
  handshake waits at most `CLOSE_TIMEOUT_S`, then the connection is dropped.

Credentials travel only in request headers, never in the URL; the websockets logger
handed to the connection redacts them, and so do all error messages built here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Final, cast

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from backends.orpheus.settings import (
    OrpheusClientSettings,
    env_var,
    load_client_settings,
    redact,
)
from unmute.tts.base import BackendError, BaseTextToSpeech, RetryableError, RetryPolicy
from unmute.tts.protocol import TTSAudioMessage, TTSTextMessage

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S: Final = 0.5
"""Longest wait for the service to answer our close before the connection is dropped."""
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
"""Largest message accepted (a msgpack float list costs 9 bytes per sample)."""
RETRYABLE_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: a cold-starting or busy service."""
_CAPACITY_WORDS: Final = ("no free channel", "capacity", "too many sessions", "busy")


class OrpheusAuthError(BackendError):
    """The service refused the credentials (HTTP 401/403). Retrying will not help."""


class OrpheusServiceError(BackendError):
    """The service reported an error, or the connection failed mid-stream."""


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """Hands websockets a logger that masks secrets (it logs headers at DEBUG)."""

    def __init__(self, base: logging.Logger, secrets: list[str]) -> None:
        super().__init__(base, {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)


def _decode(raw: str | bytes) -> Mapping[str, Any]:
    if isinstance(raw, str):
        raise OrpheusServiceError("the service sent a text frame; expected msgpack binary frames")
    try:
        message = cast(Any, msgpack.unpackb(raw, raw=False))  # pyright: ignore[reportUnknownMemberType]
    except Exception as exc:
        raise OrpheusServiceError(f"the service sent an undecodable message: {exc}") from None
    if not isinstance(message, dict):
        raise OrpheusServiceError("the service sent a msgpack value that is not a map")
    return cast(Mapping[str, Any], message)


def _pack(message: dict[str, str]) -> bytes:
    return cast(bytes, msgpack.packb(message))  # pyright: ignore[reportUnknownMemberType]


def _pcm(value: Any) -> TTSAudioMessage:
    if isinstance(value, bytes | bytearray):
        return TTSAudioMessage(pcm=np.frombuffer(bytes(value), dtype=np.float32))
    return TTSAudioMessage(pcm=value)


def _is_capacity_refusal(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _CAPACITY_WORDS)


class OrpheusTextToSpeech(BaseTextToSpeech):
    """Streams words to the Orpheus service and yields its audio and word timings."""

    backend_name: ClassVar[str] = "orpheus"

    def __init__(
        self,
        voice: str | None = None,
        *,
        settings: OrpheusClientSettings | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        settings = settings if settings is not None else load_client_settings()
        settings.check()
        super().__init__(voice or settings.voice, retry=retry or settings.retry_policy())
        self.settings = settings
        self.connections = 0
        """Connection attempts made (retries included)."""
        self._secrets = settings.secrets()
        self._ws: ClientConnection | None = None

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # -- backend surface -------------------------------------------------------------

    async def _open(self) -> None:
        url = self.settings.streaming_url(self.voice)
        shown = self.settings.websocket_url
        self.connections += 1
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(self.settings.ws_connect_timeout_s):
                ws = await connect(
                    url,
                    additional_headers=self.settings.headers(),
                    open_timeout=None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_MESSAGE_BYTES,
                    compression=None,
                    logger=_RedactingLogger(logging.getLogger("websockets.client"), self._secrets),
                )
                await self._wait_ready(ws, shown)
        except InvalidStatus as exc:
            raise self._status_error(exc.response.status_code, exc.response.body, shown) from None
        except TimeoutError:
            _abort(ws)
            raise RetryableError(
                f"{shown}: no Ready within {self.settings.ws_connect_timeout_s:g} s "
                f"({env_var('ws_connect_timeout_s')})"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise BackendError(f"{shown}: TLS certificate rejected: {exc.verify_message}") from None
        except InvalidURI as exc:
            raise BackendError(f"{env_var('fastapi_url')}: {exc}") from None
        except (OSError, InvalidHandshake) as exc:
            _abort(ws)
            raise RetryableError(self._redact(f"{shown}: cannot connect: {exc}")) from None
        except ConnectionClosed as exc:
            _abort(ws)
            frame = exc.rcvd or exc.sent
            if frame is not None and frame.code == 1008:  # policy violation: not retried
                reason = frame.reason.lower()
                if "auth" in reason or "key" in reason:
                    raise self._status_error(
                        403, frame.reason.encode(), shown, label="close code 1008"
                    ) from None
                raise BackendError(f"{shown}: refused ({_close_reason(exc)})") from None
            raise RetryableError(f"{shown}: closed before Ready ({_close_reason(exc)})") from None
        except BaseException:
            _abort(ws)
            raise
        self._ws = ws

    async def _wait_ready(self, ws: ClientConnection, shown: str) -> None:
        while True:
            message = _decode(await ws.recv())
            kind = message.get("type")
            if kind == "Ready":
                return
            if kind == "Error":
                _abort(ws)
                text = self._redact(str(message.get("message", "")))
                if _is_capacity_refusal(text):
                    raise RetryableError(f"{shown}: {text}")
                raise OrpheusServiceError(f"the Orpheus service refused the session: {text}")
            logger.debug("orpheus: ignoring %r before Ready", kind)

    def _status_error(
        self, status: int, body: bytes | bytearray | None, shown: str, label: str | None = None
    ) -> BackendError:
        label = label or f"HTTP {status}"
        detail = ""
        if body:
            snippet = body[:200].decode("utf-8", "replace").strip()
            detail = f": {self._redact(snippet)}" if snippet else ""
        if status in (401, 403):
            if self.settings.api_key is None and self.settings.modal_key is None:
                hint = (
                    f"the service needs credentials: set {env_var('api_key')} (and "
                    f"{env_var('modal_key')}/{env_var('modal_secret')} for a Modal "
                    "deployment with proxy auth)"
                )
            else:
                names = [env_var("api_key")] if self.settings.api_key is not None else []
                if self.settings.modal_key is not None:
                    names.append(f"{env_var('modal_key')}/{env_var('modal_secret')}")
                hint = f"check {' and '.join(names)}"
            return OrpheusAuthError(
                f"the Orpheus service at {shown} rejected the credentials ({label}): {hint}"
            )
        if status in RETRYABLE_STATUS:
            return RetryableError(f"{shown}: HTTP {status} (service starting or busy){detail}")
        if status == 404:
            return BackendError(
                f"{shown}: HTTP 404: no Orpheus service there; check {env_var('fastapi_url')} "
                f"(is the Modal app deployed?){detail}"
            )
        return BackendError(f"{shown}: the service refused the WebSocket: HTTP {status}{detail}")

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        ws = self._ws
        if ws is None:
            raise BackendError("orpheus: not connected")
        eos_sent = asyncio.Event()
        sender = asyncio.create_task(self._send_words(ws, text, eos_sent), name="orpheus-send")
        audio_s = 0.0
        try:
            while True:
                try:
                    raw = await ws.recv()
                except ConnectionClosed as exc:
                    if exc.rcvd is not None and exc.rcvd.code == 1000 and eos_sent.is_set():
                        break
                    raise OrpheusServiceError(
                        f"connection to the Orpheus service lost after {audio_s:.2f} s of audio "
                        f"({_close_reason(exc)})"
                    ) from None
                message = _decode(raw)
                kind = message.get("type")
                if kind == "Audio":
                    audio = _pcm(message.get("pcm", []))
                    audio_s += audio.duration_s
                    yield audio
                elif kind == "Text":
                    yield TTSTextMessage.model_validate(message)
                elif kind == "Error":
                    text_ = self._redact(str(message.get("message", "unknown error")))
                    raise OrpheusServiceError(f"the Orpheus service failed: {text_}")
                elif kind != "Ready":
                    logger.debug("orpheus: ignoring message of type %r", kind)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _send_words(
        self, ws: ClientConnection, text: AsyncIterator[str], eos_sent: asyncio.Event
    ) -> None:
        try:
            async for word in text:
                await ws.send(_pack({"type": "Text", "text": word}))
            eos_sent.set()  # before the await: the service may close as soon as it has it
            await ws.send(_pack({"type": "Eos"}))
        except ConnectionClosed:
            return  # the receiving side reports the lost connection
        except Exception:
            ws.transport.abort()  # wake the receiving side; this exception then surfaces
            raise

    async def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        started = time.monotonic()
        try:
            await ws.close()
        except Exception:
            ws.transport.abort()
        logger.debug("orpheus: connection closed in %.3f s", time.monotonic() - started)


def _abort(ws: ClientConnection | None) -> None:
    if ws is not None:
        ws.transport.abort()


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame: the connection dropped"
    return f"close code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
