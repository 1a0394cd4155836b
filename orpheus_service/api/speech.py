"""What the service needs of the engine: a `SpeechEngine` that starts a `SpeechSynthesis`.

`OrpheusEngine` and its `Synthesis` fit these protocols; tests pass fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from orpheus_service.engine.events import EngineEvent, EngineStats
from orpheus_service.vocabulary.sampling import SamplingOverrides


class SpeechSynthesis(Protocol):
    """A running synthesis (OrpheusEngine's `Synthesis`)."""

    stats: EngineStats

    def __aiter__(self) -> AsyncIterator[EngineEvent]: ...

    async def aclose(self) -> None: ...


class SpeechEngine(Protocol):
    """What the service needs of OrpheusEngine."""

    def synthesize(
        self,
        text: str | AsyncIterable[str],
        *,
        voice: str | None = None,
        sampling: SamplingOverrides | None = None,
    ) -> SpeechSynthesis: ...
