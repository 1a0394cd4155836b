"""`TextFeed`: the text a WebSocket client sends, as an async stream for the engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class TextFeed:
    """An async stream of text deltas fed by a WebSocket reader."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._words = 0

    @property
    def ended(self) -> bool:
        """`end()` was called."""
        return self._ended

    def push_words(self, text: str) -> None:
        """Add one client Text message; its words are kept apart from the previous ones."""
        if self._ended:
            return
        words = text.split()
        if words:
            self._words += len(words)
            self._queue.put_nowait(" ".join(words) + " ")

    def end(self) -> None:
        """No more text."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item
