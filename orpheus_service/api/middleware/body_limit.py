"""A bound on the size of HTTP request bodies (ORPHEUS_MAX_REQUEST_BYTES).

`RequestBodyLimitMiddleware` answers 413 with the OpenAI-style error body
(`errors.error_response`, code `request_too_large`):

- at once, before the app runs or any of the body is read, when the request's
  Content-Length is over the limit;
- otherwise (a chunked body, or one longer than it declared) as soon as the bytes
  received pass the limit: the app gets no more of the body (its `receive` raises
  `RequestBodyTooLarge`) and whatever it answers instead is dropped.

The 413 says `Connection: close`, so the server closes the connection rather than
read the rest of the body. Should the app have started its own response before the
body passed the limit, that response is cut off and the connection closed.
WebSockets and lifespan events pass through untouched.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orpheus_service.api.errors import error_response
from orpheus_service.api.middleware.log_filters import ended_on_purpose
from orpheus_service.settings import env_var

TOO_LARGE = 413
CODE = "request_too_large"


class RequestBodyTooLarge(Exception):
    """Raised by the wrapped `receive` once the body has passed the limit."""


def too_large_message(max_bytes: int) -> str:
    """The 413's message, naming the setting and its value."""
    return f"the request body is larger than {env_var('max_request_bytes')}={max_bytes} bytes"


def _declared_length(scope: Scope) -> int | None:
    raw = Headers(scope=scope).get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None  # the server refuses a malformed Content-Length itself


class RequestBodyLimitMiddleware:
    """ASGI middleware answering 413 to an HTTP request whose body is over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(TOO_LARGE, CODE, too_large_message(self.max_bytes))
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False  # a response has started (the app's or the 413)
        refused = False  # the 413 was sent: the app's answer is dropped

        async def limited_receive() -> Message:
            nonlocal received, refused
            if received > self.max_bytes:
                raise RequestBodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                received += len(body)
                if received > self.max_bytes:
                    if not started:
                        refused = True
                        await self._refuse(scope, receive, send)
                    raise RequestBodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except RequestBodyTooLarge:
            if not refused:
                # The app's own response had started: leave it unfinished, so that the
                # server closes the connection (its "returned without completing" ERROR
                # is dropped as for any connection ended on purpose).
                ended_on_purpose()
