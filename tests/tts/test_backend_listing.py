"""`unmute-tts backends`: every registered backend, and a chain's members probed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from tests.support.fake_backend import FakeTextToSpeech
from unmute.tts import availability as av
from unmute.tts import registry
from unmute.tts.backend_listing import list_backends_command, probe_chain
from unmute.tts.base import BackendError
from unmute.tts.registry import BackendSpec
from unmute.tts.settings import TTSSettings


class Down(FakeTextToSpeech):
    async def _open(self) -> None:
        raise BackendError("service down")


SPECS = {
    "down": BackendSpec(name="down", description="always down", create=lambda v: Down(v)),
    "fake": BackendSpec(name="fake", description="works", create=lambda v: FakeTextToSpeech(v)),
    "unset": BackendSpec(
        name="unset",
        description="not configured",
        create=lambda v: FakeTextToSpeech(v),
        unavailable_reason=lambda: "UNSET_URL is not set",
    ),
}


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_discover", lambda: SPECS)
    av.reset()
    yield
    av.reset()


def listing(capsys: pytest.CaptureFixture[str], chain: str | None, *, as_json: bool) -> str:
    assert list_backends_command(argparse.Namespace(chain=chain, json=as_json)) == 0
    return capsys.readouterr().out


def test_each_member_of_a_chain_is_probed_with_one_word() -> None:
    found = probe_chain(["down", "fake", "unset"], TTSSettings(tts_fallback_probe_timeout_s=5))
    assert found["fake"] == "available"
    assert found["down"].startswith("unavailable: ") and "service down" in found["down"]
    assert found["unset"] == "unavailable: UNSET_URL is not set"


def test_every_backend_is_listed_usable_or_with_why_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = {row["name"]: row for row in json.loads(listing(capsys, None, as_json=True))}
    assert set(rows) == {"down", "fake", "unset"}
    assert rows["fake"]["usable"] and rows["fake"]["why_not"] is None
    assert rows["unset"]["why_not"] == "UNSET_URL is not set"
    assert not any("chain_position" in row for row in rows.values())


def test_a_chain_shows_each_members_position_and_availability(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = listing(capsys, "down,fake", as_json=False)
    assert "fallback chain down,fake:" in text
    assert "  2. fake       available" in text
    assert "  1. down       unavailable: " in text
