"""One client for unmute's TTS WebSocket protocol, shared by every server that speaks it.

Kyutai's TTS server (moshi-server, the `kyutai` backend) and the Orpheus service (the
`orpheus` backend) speak the same protocol at `/api/tts_streaming`: binary frames,
each a msgpack map (`unmute.tts.protocol.encode_frame`/`decode_frame`). The server
sends `Ready` first, then `Audio{pcm}` (float32 mono 24 kHz) and `Text{text, start_s,
stop_s}` as it speaks, `Error{message}` when it fails; the client sends `Text{text}`
per word and `Eos{}` at the end, after which the server finishes and closes normally.
The two backends differ only in a `ServiceConfig` (URL and query, headers, names of
their settings, whether any Error before Ready means "at capacity").

Failure handling, split between this class and the base:

- `_open` (connect, wait for Ready) raises `RetryableError` for what may pass: refused
  or reset connections, timeouts, HTTP 408/425/429/5xx (a Modal container still cold
  starting), and `AtCapacityError` for a capacity refusal ("no free channels"). The
  base retries those with backoff inside the start-up budget. HTTP 401 (and 403 when
  credentials were sent) raise `ServiceAuthError`; 404, a 403 with no credentials
  sent (no such route) and other refusals raise `BackendError` naming the URL setting.
- In `_synthesize`, a server Error, a connection lost before the end, or a server
  silent for `stall_timeout_s` once everything was sent raises; the base turns it
  into the stream's final Error message. Nothing after Ready is ever retried, so no
  speech is repeated. The empty `Text("", 0, 0)` moshi-server always sends is dropped.
- `_close` closes the socket; the close handshake waits at most `CLOSE_TIMEOUT_S`.

Credentials travel only in request headers, never in the URL; the websockets logger
handed to the connection redacts them, and so do all error messages built here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from unmute.tts.base import (
    AtCapacityError,
    BackendError,
    BaseTextToSpeech,
    RetryableError,
    RetryPolicy,
)
from unmute.tts.protocol import (
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSTextMessage,
    WireError,
    decode_frame,
    encode_frame,
)
from unmute.tts.settings import redact

logger = logging.getLogger(__name__)

STREAMING_PATH: Final = "/api/tts_streaming"
CLOSE_TIMEOUT_S: Final = 0.5
"""Longest wait for the server to answer our close before the connection is dropped."""
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
"""Largest message accepted (a msgpack float list costs 9 bytes per sample)."""
RETRYABLE_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: a cold-starting or busy service."""
CAPACITY_WORDS: Final = ("no free channel", "capacity", "too many sessions", "busy")
"""Words of an Error before Ready that mean "no capacity now", not "never"."""


class ServiceAuthError(BackendError):
    """The server refused the credentials (HTTP 401/403). Retrying will not help."""


class ServiceError(BackendError):
    """The server reported an error, went silent, or the connection failed mid-stream."""


def _no_first_frames() -> Sequence[bytes]:
    return ()


@dataclass(frozen=True)
class ServiceConfig:
    """What differs between two servers of unmute's protocol."""

    service: str
    """How messages name the server: "the Orpheus service", "the Kyutai TTS server"."""
    url: str
    """The ws(s)://.../api/tts_streaming URL with its query."""
    shown_url: str
    """The URL as messages may show it (no query)."""
    url_setting: str
    """The variable that sets the URL, for hints."""
    headers: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    secrets: Sequence[str] = ()
    """Secret values to mask in messages and logs."""
    connect_timeout_s: float = 10.0
    connect_timeout_setting: str = ""
    stall_timeout_s: float = 10.0
    """Longest silence of the server once everything is sent and audio is owed."""
    stall_timeout_setting: str = ""
    auth_hint: str = "check the API key"
    """Advice when the server rejects the credentials."""
    not_found_hint: str = ""
    any_error_before_ready_is_capacity: bool = False
    """moshi-server sends an Error before Ready only when every channel is busy."""
    first_frames: Callable[[], Sequence[bytes]] = _no_first_frames
    """Frames to send right after connecting, before Ready (a custom voice)."""


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


def _audio(value: Any) -> TTSAudioMessage:
    if isinstance(value, bytes | bytearray):
        return TTSAudioMessage(pcm=np.frombuffer(bytes(value), dtype=np.float32))
    return TTSAudioMessage(pcm=value)


def is_capacity_refusal(message: str) -> bool:
    """Whether an Error before Ready says "no capacity now" (worth trying again)."""
    lowered = message.lower()
    return any(word in lowered for word in CAPACITY_WORDS)


class UnmuteProtocolTextToSpeech(BaseTextToSpeech):
    """Streams words to a server of unmute's protocol; yields its audio and word timings.

    Backends subclass it only to name themselves and build their `ServiceConfig`.
    """

    def __init__(
        self, voice: str | None, *, config: ServiceConfig, retry: RetryPolicy | None = None
    ) -> None:
        super().__init__(voice, retry=retry)
        self.config = config
        self.connections = 0
        """Connection attempts made (retries included)."""
        self._secrets = list(config.secrets)
        self._ws: ClientConnection | None = None
        self._waiting_for = "answer"

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _decode(self, raw: str | bytes) -> Mapping[str, Any]:
        try:
            return decode_frame(raw)
        except WireError as exc:
            raise ServiceError(f"{self.config.service} sent a bad frame: {exc}") from None

    # -- backend surface -------------------------------------------------------------

    async def _open(self) -> None:
        config = self.config
        shown = config.shown_url
        self.connections += 1
        ws: ClientConnection | None = None
        self._waiting_for = "reply to the WebSocket handshake"
        try:
            async with asyncio.timeout(config.connect_timeout_s):
                ws = await connect(
                    config.url,
                    additional_headers=dict(config.headers),
                    open_timeout=None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_MESSAGE_BYTES,
                    compression=None,
                    logger=_RedactingLogger(logging.getLogger("websockets.client"), self._secrets),
                )
                for frame in config.first_frames():
                    await ws.send(frame)
                self._waiting_for = "Ready message after accepting the WebSocket"
                await self._wait_ready(ws, shown)
        except InvalidStatus as exc:
            raise self._status_error(exc.response.status_code, exc.response.body, shown) from None
        except TimeoutError:
            _abort(ws)
            raise RetryableError(self._startup_stall()) from None
        except ssl.SSLCertVerificationError as exc:
            raise BackendError(f"{shown}: TLS certificate rejected: {exc.verify_message}") from None
        except InvalidURI as exc:
            raise BackendError(f"{config.url_setting}: {exc}") from None
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

    def _startup_stall(self) -> str:
        config = self.config
        setting = f" ({config.connect_timeout_setting})" if config.connect_timeout_setting else ""
        return (
            f"{config.shown_url} did not answer: no {self._waiting_for} within "
            f"{config.connect_timeout_s:g} s per attempt{setting}"
        )

    async def _wait_ready(self, ws: ClientConnection, shown: str) -> None:
        while True:
            message = self._decode(await ws.recv())
            kind = message.get("type")
            if kind == "Ready":
                return
            if kind == "Error":
                _abort(ws)
                text = self._redact(str(message.get("message", "")))
                if self.config.any_error_before_ready_is_capacity or is_capacity_refusal(text):
                    raise AtCapacityError(f"{shown}: at capacity: {text}")
                raise ServiceError(f"{self.config.service} refused the session: {text}")
            logger.debug("%s: ignoring %r before Ready", self.backend_name, kind)

    def _status_error(
        self, status: int, body: bytes | bytearray | None, shown: str, label: str | None = None
    ) -> BackendError:
        label = label or f"HTTP {status}"
        detail = ""
        if body:
            snippet = body[:200].decode("utf-8", "replace").strip()
            detail = f": {self._redact(snippet)}" if snippet else ""
        service = self.config.service
        sent_credentials = bool(self._secrets)
        if status == 401 or (status == 403 and sent_credentials):
            return ServiceAuthError(
                f"{service} at {shown} rejected the credentials ({label}): {self.config.auth_hint}"
            )
        if status == 403:  # no credentials sent: what is refused is the URL
            return BackendError(
                f"{shown}: HTTP 403 with no credentials sent: no {service.removeprefix('the ')} "
                f"WebSocket at this path, or one that needs a key; check "
                f"{self.config.url_setting}{detail}"
            )
        if status in RETRYABLE_STATUS:
            return RetryableError(f"{shown}: HTTP {status} (service starting or busy){detail}")
        if status == 404:
            return BackendError(
                f"{shown}: HTTP 404: no {service.removeprefix('the ')} there; "
                f"{self.config.not_found_hint or 'check ' + self.config.url_setting}{detail}"
            )
        return BackendError(f"{shown}: the service refused the WebSocket: HTTP {status}{detail}")

    async def _synthesize(
        self, text: AsyncIterator[str]
    ) -> AsyncIterator[TTSAudioMessage | TTSTextMessage]:
        ws = self._ws
        if ws is None:
            raise BackendError(f"{self.backend_name}: not connected")
        deadline: list[asyncio.Timeout] = []
        eos_sent = asyncio.Event()
        sender = asyncio.create_task(
            self._send_words(ws, text, eos_sent, deadline), name=f"{self.backend_name}-send"
        )
        loop = asyncio.get_running_loop()
        stall_s = self.config.stall_timeout_s
        audio_s = 0.0
        try:
            while True:
                try:
                    when = loop.time() + stall_s if eos_sent.is_set() else None
                    async with asyncio.timeout_at(when) as timeout:
                        deadline[:] = [timeout]
                        raw = await ws.recv()
                except TimeoutError:
                    raise ServiceError(
                        f"{self.config.service} sent nothing for {stall_s:g} s while audio was "
                        f"still owed ({self.config.stall_timeout_setting}), after "
                        f"{audio_s:.2f} s of audio"
                    ) from None
                except ConnectionClosed as exc:
                    if exc.rcvd is not None and exc.rcvd.code == 1000 and eos_sent.is_set():
                        break
                    raise ServiceError(
                        f"connection to {self.config.service} lost after {audio_s:.2f} s of "
                        f"audio ({_close_reason(exc)})"
                    ) from None
                finally:
                    deadline.clear()
                message = self._decode(raw)
                kind = message.get("type")
                if kind == "Audio":
                    audio = _audio(message.get("pcm", []))
                    audio_s += audio.duration_s
                    yield audio
                elif kind == "Text":
                    word = TTSTextMessage.model_validate(message)
                    if word.text:  # moshi-server always sends Text("", 0, 0): dropped
                        yield word
                elif kind == "Error":
                    text_ = self._redact(str(message.get("message", "unknown error")))
                    raise ServiceError(f"{self.config.service} failed: {text_}")
                elif kind != "Ready":
                    logger.debug("%s: ignoring message of type %r", self.backend_name, kind)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _send_words(
        self,
        ws: ClientConnection,
        text: AsyncIterator[str],
        eos_sent: asyncio.Event,
        deadline: list[asyncio.Timeout],
    ) -> None:
        try:
            async for word in text:
                await ws.send(encode_frame(TTSClientTextMessage(text=word)))
            eos_sent.set()  # before the await: the server may close as soon as it has it
            await ws.send(encode_frame(TTSClientEosMessage()))
            if deadline:  # the receiver waits without a deadline: audio is owed from now
                deadline[0].reschedule(
                    asyncio.get_running_loop().time() + self.config.stall_timeout_s
                )
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
        logger.debug(
            "%s: connection closed in %.3f s", self.backend_name, time.monotonic() - started
        )


def _abort(ws: ClientConnection | None) -> None:
    if ws is not None:
        ws.transport.abort()


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame: the connection dropped"
    return f"close code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
