"""`LiveStreamingResponse`: an HTTP stream that stops the moment its client disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orpheus_service.api.middleware.log_filters import ended_on_purpose

log = logging.getLogger(__name__)


class LiveStreamingResponse(Response):
    """Streams `chunks`, and stops them the moment the client disconnects.

    Starlette's StreamingResponse only notices a disconnect when a send fails, so a
    producer waiting on llama-server would run on. Here a watcher awaits
    `http.disconnect` alongside the sender and cancels it at once; `chunks` is then
    closed (its `finally` blocks run). If `chunks` fails after the headers went
    out, the response is left incomplete, so the client sees a broken transfer
    rather than a short body that looks whole. A client that leaves the body unread
    for `send_timeout_s` (0: no limit) counts as gone. `on_done(client_gone)` runs last.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        on_done: Callable[[bool], Awaitable[None]] | None = None,
        send_timeout_s: float = 0.0,
    ) -> None:
        # No super().__init__: without a `body`, no Content-Length header is set.
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self._chunks = chunks
        self._on_done = on_done
        self._send_timeout_s = send_timeout_s
        self.client_gone = False
        self.failed: BaseException | None = None
        self.stalled = False
        """The client left the body unread for `send_timeout_s` and was dropped."""

    async def _send(self, send: Send, body: bytes, more_body: bool) -> None:
        message = {"type": "http.response.body", "body": body, "more_body": more_body}
        if self._send_timeout_s <= 0:
            await send(message)
            return
        try:
            async with asyncio.timeout(self._send_timeout_s):
                await send(message)
        except TimeoutError:
            log.info("HTTP client left the audio unread for %g s: dropped", self._send_timeout_s)
            self.stalled = True
            raise ConnectionAbortedError("the client does not read") from None

    async def _pump(self, send: Send) -> bool:
        try:
            async for chunk in self._chunks:
                if chunk:
                    await self._send(send, chunk, True)
        except OSError:
            self.client_gone = True
            return False
        except Exception as exc:
            self.failed = exc
            log.warning("stream failed after the response started: %s", exc)
            return False
        try:
            await self._send(send, b"", False)
        except OSError:
            self.client_gone = True
            return False
        return True

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump: asyncio.Future[Any] | None = None
        watch: asyncio.Future[Any] | None = None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            pump = asyncio.ensure_future(self._pump(send))
            watch = asyncio.ensure_future(self._watch(receive))
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not pump.done():
                self.client_gone = True
            if self.stalled:
                ended_on_purpose()  # uvicorn's "returned without completing" is no error here
        except OSError:
            self.client_gone = True
        finally:
            for task in (pump, watch):
                if task is not None and not task.done():
                    task.cancel()
            tasks: list[asyncio.Future[Any]] = [t for t in (pump, watch) if t is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            aclose: Callable[[], Awaitable[None]] | None = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if self._on_done is not None:
                await self._on_done(self.client_gone)
