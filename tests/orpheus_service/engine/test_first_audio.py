"""The first-audio cushion: a synthesis's first chunk carries `first_audio_min_s`."""

from __future__ import annotations

import numpy as np

from orpheus_service.engine.events import AudioChunk, EngineEvent
from orpheus_service.engine.pipeline import OrpheusEngine
from tests.support.engine_fakes import (
    SAMPLES,
    FakeDecoder,
    FakeSource,
    assert_words_come_before_the_audio_they_start_in,
    audio_of,
    collect,
)

TEXT = "One two three four five six seven. Eight nine ten."


async def speak(
    first_audio_min_s: float, text: str = TEXT, *, word_hold_s: float = 0.0
) -> list[EngineEvent]:
    """Frames come one at a time (a token per ms), as from a busy llama-server."""
    source = FakeSource(token_delay_s=0.001)
    engine = OrpheusEngine(
        source, FakeDecoder, first_audio_min_s=first_audio_min_s, word_hold_s=word_hold_s
    )
    return await collect(engine.synthesize(text))


def chunks(events: list[EngineEvent]) -> list[AudioChunk]:
    return [event for event in events if isinstance(event, AudioChunk)]


async def test_the_first_chunk_carries_at_least_the_cushion() -> None:
    first = chunks(await speak(0.2))[0]
    assert first.pcm.shape[0] >= 0.2 * 24000


async def test_without_a_cushion_the_first_frame_goes_out_alone() -> None:
    assert chunks(await speak(0.0))[0].pcm.shape[0] == SAMPLES


async def test_the_cushion_changes_no_sample_of_the_audio() -> None:
    np.testing.assert_array_equal(audio_of(await speak(0.2)), audio_of(await speak(0.0)))


async def test_a_first_segment_shorter_than_the_cushion_goes_out_whole_at_its_end() -> None:
    events = await speak(5.0, "One two. Three four five.")
    first = chunks(events)[0]
    assert first.segment == 0
    assert first.pcm.shape[0] == 2 * SAMPLES


async def test_with_a_full_word_hold_each_word_still_comes_before_its_audio() -> None:
    assert_words_come_before_the_audio_they_start_in(await speak(0.2, word_hold_s=0.5))
