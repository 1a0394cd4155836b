"""Browsers as clients: the key on a WebSocket without headers, and CORS.

A browser's `new WebSocket(url, protocols)` cannot send headers, only subprotocols.
A client offers two: `orpheus-tts` and `orpheus-tts.key.<base64url(key)>` (no `=`
padding). `SubprotocolKeyMiddleware` turns the second into an
`Authorization: Bearer <key>` header for the key check that follows (never replacing a
header the client sent), and accepts the WebSocket with the subprotocol `orpheus-tts`
(a browser drops a connection whose server picks none of the offered ones). The key
never appears in a URL, so it stays out of access logs.

`add_cors(app, origins)` lets pages from those origins call the HTTP API (preflights
are answered before the key check); WebSockets are not subject to CORS.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUBPROTOCOL: Final = "orpheus-tts"
"""The subprotocol the service accepts a browser's WebSocket with."""
KEY_PREFIX: Final = "orpheus-tts.key."
"""A subprotocol starting with this carries the key, base64url-encoded."""


def key_subprotocol(key: str) -> str:
    """The subprotocol that carries `key` (what the playground offers)."""
    return KEY_PREFIX + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def key_from_subprotocols(subprotocols: Sequence[str]) -> str | None:
    """The key carried by the offered subprotocols, if any (None if malformed)."""
    for offered in subprotocols:
        if offered.startswith(KEY_PREFIX):
            encoded = offered[len(KEY_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
    return None


def _header_value(text: str) -> bytes:
    """`text` as header bytes, the way servers decode headers (latin-1) where it can be."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


class SubprotocolKeyMiddleware:
    """ASGI middleware: a key in a WebSocket subprotocol becomes a Bearer header, and the
    WebSocket is accepted with `orpheus-tts` when the client offered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        offered: list[str] = list(scope.get("subprotocols") or ())
        if scope["type"] != "websocket" or SUBPROTOCOL not in offered:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        key = key_from_subprotocols(offered)
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or ())
        if key and not any(name == b"authorization" for name, _ in headers):
            scope["headers"] = [*headers, (b"authorization", _header_value(f"Bearer {key}"))]
        scope["subprotocols"] = [SUBPROTOCOL]

        async def send_with_subprotocol(message: Message) -> None:
            if message["type"] == "websocket.accept" and not message.get("subprotocol"):
                message = {**message, "subprotocol": SUBPROTOCOL}
            await send(message)

        await self.app(scope, receive, send_with_subprotocol)


def parse_origins(text: str) -> list[str]:
    """ORPHEUS_CORS_ORIGINS as a list: comma-separated, blanks dropped."""
    return [origin.strip() for origin in text.split(",") if origin.strip()]


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Let pages from `origins` (`*`: any) call the HTTP API; no-op when empty."""
    if not origins:
        return
    options: dict[str, Any] = {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST", "OPTIONS"],
        "allow_headers": ["authorization", "content-type", "kyutai-api-key"],
        "max_age": 600,
    }
    app.add_middleware(CORSMiddleware, **options)
