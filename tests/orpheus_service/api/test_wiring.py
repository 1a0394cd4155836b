"""The wiring builds the engine its settings describe."""

from __future__ import annotations

from orpheus_service.api.wiring import engine_from_settings
from tests.support.engine_fakes import FakeDecoder, FakeSource
from tests.support.service_support import service_settings


def test_the_settings_set_the_cushion_and_the_gate() -> None:
    settings = service_settings(first_audio_min_s=0.3, yield_lead_s=1.5)
    engine = engine_from_settings(settings, FakeSource(), FakeDecoder)
    assert engine.first_audio_min_s == 0.3
    assert engine.generation_gate is not None
    assert engine.generation_gate.ahead_s == 1.5


def test_a_yield_lead_of_zero_leaves_the_gate_off() -> None:
    engine = engine_from_settings(service_settings(yield_lead_s=0), FakeSource(), FakeDecoder)
    assert engine.generation_gate is None
