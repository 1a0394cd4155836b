"""API key checks: `Authorization: Bearer KEY`, or unmute's `kyutai-api-key` header.

`ApiKeyMiddleware` guards every path except the open ones (`/health`). With no
key configured every request passes. Keys are compared in constant time
(`hmac.compare_digest` on bytes). HTTP requests get 401 with an OpenAI-style
error body; a WebSocket is refused during the handshake (HTTP 401 where the
server supports the denial-response extension, else close code 1008), before it
is accepted and before any route code runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from orpheus_service.api.middleware.log_filters import ended_on_purpose

KYUTAI_HEADER = "kyutai-api-key"
"""The header unmute's TTS client sends its key in."""

WS_POLICY_VIOLATION = 1008


class ApiKeyChecker:
    """Checks request headers against the configured key (None: no check)."""

    def __init__(self, api_key: str | None) -> None:
        key = api_key.strip() if api_key else None  # headers are compared trimmed too
        self._key = key.encode() if key else None

    @property
    def enabled(self) -> bool:
        """A key is configured."""
        return self._key is not None

    def _matches(self, candidate: str) -> bool:
        assert self._key is not None
        return hmac.compare_digest(candidate.encode(), self._key)

    def allowed(self, headers: Mapping[str, str], *, extra_headers: Iterable[str] = ()) -> bool:
        """Whether `headers` carry the key (Bearer token, or one of `extra_headers`)."""
        if self._key is None:
            return True
        ok = False
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            ok |= self._matches(token.strip()) and scheme.lower() == "bearer"
        for name in extra_headers:
            value = headers.get(name)
            if value is not None:
                ok |= self._matches(value.strip())
        return ok


def unauthorized_response() -> JSONResponse:
    """The 401 answer, shaped like OpenAI's errors."""
    return JSONResponse(
        {
            "error": {
                "message": "invalid or missing API key: send 'Authorization: Bearer <key>'",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class ApiKeyMiddleware:
    """ASGI middleware refusing requests without the key, except on `open_paths`."""

    def __init__(
        self,
        app: ASGIApp,
        checker: ApiKeyChecker,
        *,
        open_paths: Collection[str] = ("/health",),
        kyutai_paths: Collection[str] = ("/api/tts_streaming",),
    ) -> None:
        self.app = app
        self.checker = checker
        self.open_paths = frozenset(open_paths)
        self.kyutai_paths = frozenset(kyutai_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.checker.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in self.open_paths:
            await self.app(scope, receive, send)
            return
        extra = (KYUTAI_HEADER,) if path in self.kyutai_paths else ()
        if self.checker.allowed(Headers(scope=scope), extra_headers=extra):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await unauthorized_response()(scope, receive, send)
            return
        # WebSocket: refuse the handshake without accepting it. The refusal is logged once,
        # at INFO, as uvicorn's request line; its "returned without completing" ERROR is not.
        ended_on_purpose()
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            response = unauthorized_response()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": response.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send(
                {"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": "unauthorized"}
            )
