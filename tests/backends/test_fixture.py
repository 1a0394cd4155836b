"""The fixture backend as registered: never chosen by itself, its voices those of its
fixtures, and the fixtures it ships replay through the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.fixture import backend as fixture_spec
from backends.fixture.replay import PACKAGED_FIXTURE_DIR, load_library
from tests.support.fixture_sessions import fixture_dir, make_session
from tests.support.sessions import speak
from unmute.tts import registry
from unmute.tts.protocol import TTSAudioMessage, TTSTextMessage

SHIPPED_TEXTS = [
    "Hello world.",
    "Hello from unmute.",
    "The quick brown fox jumps over the lazy dog.",
]


def test_backend_is_registered_and_never_auto_selected() -> None:
    registry.refresh()
    spec = registry.get_backend("fixture")
    assert spec is fixture_spec
    assert spec.auto_select_reason() is None


def test_backend_voices_are_the_voices_in_the_fixtures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = fixture_dir(
        tmp_path, make_session("a", voice="bob"), make_session("b", voice="alice")
    )
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(directory))
    assert fixture_spec.voices() == ["alice", "bob"]
    assert fixture_spec.unavailable_reason() is None


def test_backend_is_unavailable_without_fixtures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(tmp_path))
    assert "no *.msgpack fixture files" in (fixture_spec.unavailable_reason() or "")


def test_shipped_fixtures_hold_the_documented_texts_from_espeak() -> None:
    library = load_library(PACKAGED_FIXTURE_DIR)
    texts = library.texts()
    for text in SHIPPED_TEXTS:
        assert text in texts
    assert any(text.count(".") >= 2 for text in texts)
    assert {s.backend for s in library.sessions} == {"espeak"}
    assert library.voices() == ["en-us"]
    assert sum(f.stat().st_size for f in PACKAGED_FIXTURE_DIR.glob("*.msgpack")) < 1_500_000


async def test_shipped_fixture_replays_through_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNMUTE_FIXTURE_DIR", raising=False)
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    messages = await speak(registry.create_tts("fixture"), "Hello world.")
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["Hello", "world."]
    assert sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)) > 0
