"""What the service needs of the engine: OrpheusEngine and its syntheses fit
SpeechEngine and SpeechSynthesis (checked by pyright where they are used as such), and
a synthesis used through the protocols speaks and counts."""

from __future__ import annotations

import contextlib

from orpheus_service.api.speech import SpeechEngine, SpeechSynthesis
from orpheus_service.engine.events import AudioChunk, EngineEvent
from orpheus_service.engine.pipeline import OrpheusEngine
from tests.support.engine_fakes import FakeDecoder, FakeSource


async def speak(engine: SpeechEngine, text: str) -> tuple[list[EngineEvent], SpeechSynthesis]:
    synthesis = engine.synthesize(text, voice="leo")
    async with contextlib.aclosing(synthesis):
        return [event async for event in synthesis], synthesis


async def test_orpheus_engine_speaks_through_the_service_protocols() -> None:
    events, synthesis = await speak(OrpheusEngine(FakeSource(), FakeDecoder), "One two. Three.")
    assert any(isinstance(e, AudioChunk) for e in events)
    assert synthesis.stats.segments == 2
    assert synthesis.stats.audio_s > 0
