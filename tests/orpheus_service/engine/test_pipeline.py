"""OrpheusEngine: the voice is checked when a synthesis starts and goes into each
prompt, and the engine wires a real (streaming SNAC) decoder into its syntheses."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from orpheus_service.engine.events import SegmentDone
from orpheus_service.engine.frame_decoder import threaded_decoder_factory
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.voices import UnknownVoiceError
from tests.support.engine_fakes import (
    SAMPLES,
    FakeDecoder,
    FakeSource,
    audio_of,
    collect,
    make_engine,
)

THREE = "One two three. Four five six seven. Eight nine."


async def test_unknown_voice_fails_at_once() -> None:
    with pytest.raises(UnknownVoiceError):
        make_engine(FakeSource()).synthesize("Hi.", voice="nobody")


async def test_voice_goes_into_the_prompt() -> None:
    seen: list[list[PromptPart]] = []
    source = FakeSource()

    def spy(
        prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
    ) -> AsyncIterator[int]:
        seen.append(prompt)
        return source(prompt)

    await collect(OrpheusEngine(spy, FakeDecoder).synthesize("Hi there.", voice="leo"))
    assert seen[0][2] == "leo: Hi there."


async def test_real_snac_stream_gives_2048_samples_per_frame_per_segment(
    tmp_path: pathlib.Path,
) -> None:
    from orpheus_service.snac.decoder import SnacStreamDecoder
    from tests.support.snac_models import SMALL_SNAC_CONFIG, random_snac

    decoder = SnacStreamDecoder(random_snac(SMALL_SNAC_CONFIG, tmp_path), noise=False)
    engine = OrpheusEngine(
        FakeSource(frames_per_word=2), threaded_decoder_factory(decoder.new_stream)
    )
    events = await collect(engine.synthesize(THREE))
    done = [e for e in events if isinstance(e, SegmentDone)]
    assert [round(d.duration_s * 24000) for d in done] == [6 * SAMPLES, 8 * SAMPLES, 4 * SAMPLES]
    pcm = audio_of(events)
    assert pcm.dtype == np.float32
    assert pcm.shape == (18 * SAMPLES,)
    assert np.isfinite(pcm).all()
