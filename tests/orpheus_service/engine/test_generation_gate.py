"""GenerationGate: a synthesis far ahead of its listener yields llama-server to one close
to running dry, and to nobody else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from orpheus_service.engine.generation_gate import GenerationGate
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.engine.synthesis import Synthesis
from tests.support.engine_fakes import FakeDecoder, FakeSource, collect


@dataclass(eq=False)
class Member:
    lead_s: float = 0.0
    generating: bool = False

    def ahead_s(self, now: float) -> float:
        return self.lead_s


def gate_with(*others: Member) -> GenerationGate:
    gate = GenerationGate(ahead_s=2.0)
    for other in others:
        gate.join(other)
    return gate


def test_a_synthesis_within_its_lead_never_waits() -> None:
    me = Member(lead_s=1.5)
    assert not gate_with(me, Member(lead_s=0.1, generating=True)).must_wait(me)


def test_a_synthesis_far_ahead_waits_while_another_generates_close_to_dry() -> None:
    me = Member(lead_s=5.0)
    assert gate_with(me, Member(lead_s=0.5, generating=True)).must_wait(me)


def test_one_still_waiting_for_its_first_audio_counts_as_close_to_dry() -> None:
    me = Member(lead_s=5.0)
    assert gate_with(me, Member(lead_s=0.0, generating=True)).must_wait(me)


def test_nobody_waits_for_a_synthesis_that_is_not_generating() -> None:
    me = Member(lead_s=5.0)
    assert not gate_with(me, Member(lead_s=0.1, generating=False)).must_wait(me)


def test_nobody_waits_for_one_with_lead_enough() -> None:
    me = Member(lead_s=5.0)
    assert not gate_with(me, Member(lead_s=1.5, generating=True)).must_wait(me)


def test_a_synthesis_that_left_holds_nobody_back() -> None:
    me, other = Member(lead_s=5.0), Member(lead_s=0.1, generating=True)
    gate = gate_with(me, other)
    gate.leave(other)
    assert not gate.must_wait(me)


async def test_the_turn_comes_once_the_other_stops_generating() -> None:
    me, other = Member(lead_s=5.0), Member(lead_s=0.1, generating=True)
    gate = gate_with(me, other)
    asyncio.get_running_loop().call_later(0.1, setattr, other, "generating", False)
    waited = await asyncio.wait_for(gate.wait_turn(me), 5)
    assert waited >= 0.09


def test_a_lead_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="ahead_s"):
        GenerationGate(ahead_s=0)


async def ahead_waits(*, beside_slow: bool) -> float:
    """Seconds `ahead` (three sentences, generated and read at once) held segments back
    under a gate of 0.2 s, beside `slow` (one sentence generated slower than real time)
    or alone.

    `ahead` starts its second segment before any of its audio is out (lookahead), its
    third once the first (6 frames, 0.51 s) is out: 0.31 s past the limit at once."""
    gate = GenerationGate(ahead_s=0.2, urgent_s=0.2)
    slow_source = FakeSource(token_delay_s=0.02)
    slow_engine = OrpheusEngine(slow_source, FakeDecoder, generation_gate=gate)
    engine = OrpheusEngine(FakeSource(), FakeDecoder, generation_gate=gate)
    slow: Synthesis = slow_engine.synthesize("one two three four five six seven eight.")
    slow_run = asyncio.create_task(collect(slow)) if beside_slow else None
    if slow_run is not None:
        await asyncio.wait_for(slow_source.started(0).wait(), 5)  # slow is generating
    ahead = engine.synthesize("One two three four five six. Seven eight nine ten. Eleven.")
    await collect(ahead)
    if slow_run is not None:
        await slow_run
    return ahead.stats.gate_wait_s


async def test_a_synthesis_ahead_holds_its_next_segment_until_its_lead_is_down_to_the_limit() -> (
    None
):
    waited = await ahead_waits(beside_slow=True)
    assert waited >= 0.2


async def test_a_synthesis_ahead_alone_never_waits() -> None:
    assert await ahead_waits(beside_slow=False) == 0.0
