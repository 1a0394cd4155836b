"""`TextFeed`: the text a WebSocket client sends, as an async stream for the engine.

A feed with `max_chars` bounds both one message and the session's whole text:
`push_words` raises TextLimitError (naming ORPHEUS_MAX_INPUT_CHARS) past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class TextLimitError(ValueError):
    """A message, or the session's text, is longer than the limit."""


class TextFeed:
    """An async stream of text deltas fed by a WebSocket reader."""

    def __init__(self, max_chars: int | None = None) -> None:
        self.max_chars = max_chars
        """The most characters one message, and the whole session, may carry (None: any)."""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._words = 0
        self._chars = 0

    @property
    def ended(self) -> bool:
        """`end()` was called."""
        return self._ended

    def push_words(self, text: str) -> None:
        """Add one client Text message; its words are kept apart from the previous ones.

        Raises TextLimitError when the message, or the text so far, passes `max_chars`.
        """
        if self._ended:
            return
        limit = self.max_chars
        if limit is not None:
            if len(text) > limit:
                raise TextLimitError(
                    f"a Text message of {len(text)} characters; the limit is {limit} "
                    "(ORPHEUS_MAX_INPUT_CHARS)"
                )
            if self._chars + len(text) > limit:
                raise TextLimitError(
                    f"the session's text passed {limit} characters (ORPHEUS_MAX_INPUT_CHARS)"
                )
        self._chars += len(text)
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
