"""`AsyncClosing`: `async with obj:` closes `obj` on the way out (the engine's
synthesis and the llama client share it)."""

from __future__ import annotations

from typing import Self


class AsyncClosing:
    """A base for objects with `aclose()`: entering returns the object, leaving closes it."""

    async def aclose(self) -> None:
        """Release what the object holds; subclasses define it (idempotent)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
