"""The fixture backend replays recorded sessions exactly, at recorded pace or fast."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from backends.fixture import backend as fixture_spec
from backends.fixture.format import (
    AudioEvent,
    ErrorEvent,
    FixtureFormatError,
    ReadyEvent,
    RecordedSession,
    TextEvent,
    encode_sessions,
    read_fixture_file,
    write_fixture_file,
)
from backends.fixture.replay import (
    PACKAGED_FIXTURE_DIR,
    FixtureError,
    FixtureNotFoundError,
    FixtureTextToSpeech,
    load_library,
)
from tests.support.sessions import speak
from unmute.tts import registry
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
    TTSTextMessage,
)

SHIPPED_TEXTS = [
    "Hello world.",
    "Hello from unmute.",
    "The quick brown fox jumps over the lazy dog.",
]


def make_session(
    text: str,
    voice: str | None = None,
    *,
    step_s: float = 0.05,
    seed: int = 0,
    error: str | None = None,
) -> RecordedSession:
    """A session speaking each word as one word event and one random audio chunk."""
    rng = np.random.default_rng(seed)
    events: list[Any] = [ReadyEvent(time_s=0.01)]
    for index, word in enumerate(text.split()):
        at = index * step_s
        events.append(
            TextEvent(time_s=at, text=word, start_s=index * 0.2, stop_s=index * 0.2 + 0.2)
        )
        pcm = rng.uniform(-1, 1, 4800).astype(np.float32)
        events.append(AudioEvent.from_array(at, pcm))
    if error is not None:
        events.append(ErrorEvent(time_s=len(text.split()) * step_s, message=error))
    return RecordedSession(backend="test", voice=voice, text=text, events=events)


def fixture_dir(tmp_path: Path, *sessions: RecordedSession) -> Path:
    directory = tmp_path / "fixtures"
    write_fixture_file(directory / "test.msgpack", list(sessions))
    return directory


def as_comparable(messages: list[OutputMessage]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for m in messages:
        if isinstance(m, TTSAudioMessage):
            out.append(("Audio", np.asarray(m.pcm, dtype=np.float32).tobytes()))
        else:
            out.append((m.type, m.model_dump()))
    return out


async def test_replays_a_recorded_session_exactly(tmp_path: Path) -> None:
    session = make_session("Hello there world.")
    directory = fixture_dir(tmp_path, session)
    messages = await speak(FixtureTextToSpeech(fixture_dir=directory, pace="fast"), session.text)
    assert as_comparable(messages) == as_comparable(session.messages())


async def test_recorded_pace_is_never_ahead_of_the_recording(tmp_path: Path) -> None:
    session = make_session("one two three", step_s=0.25)
    directory = fixture_dir(tmp_path, session)
    started = time.monotonic()
    await speak(FixtureTextToSpeech(fixture_dir=directory, pace="recorded"), session.text)
    elapsed = time.monotonic() - started
    assert session.duration_s() == pytest.approx(0.5)
    assert elapsed >= session.duration_s() - 0.01  # never ahead of the recording


async def test_fast_pace_is_much_faster_than_recorded(tmp_path: Path) -> None:
    session = make_session("one two three", step_s=0.25)
    directory = fixture_dir(tmp_path, session)
    started = time.monotonic()
    await speak(FixtureTextToSpeech(fixture_dir=directory, pace="fast"), session.text)
    assert time.monotonic() - started < session.duration_s() / 2


async def test_pace_and_directory_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = fixture_dir(tmp_path, make_session("one two three", step_s=0.25))
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(directory))
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    tts = FixtureTextToSpeech()
    assert (tts.fixture_dir, tts.pace) == (directory, "fast")
    started = time.monotonic()
    messages = await speak(tts, "one two three")
    assert time.monotonic() - started < 0.25  # fast: the recording takes 0.5 s
    assert len(messages) == 6


async def test_text_is_matched_after_normalizing_spaces_and_markdown(tmp_path: Path) -> None:
    session = make_session("Hello there world.")
    directory = fixture_dir(tmp_path, session)
    tts = FixtureTextToSpeech(fixture_dir=directory, pace="fast")
    await tts.start_up()
    for word in ["**Hello**", "  there ", "world."]:
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    messages = [m async for m in tts]
    assert as_comparable(messages) == as_comparable(session.messages())


async def test_unknown_text_error_names_the_closest_recorded_texts(tmp_path: Path) -> None:
    directory = fixture_dir(
        tmp_path,
        make_session("Hello world."),
        make_session("Hello from unmute."),
        make_session("Completely unrelated sentence here."),
        make_session("Another one entirely."),
    )
    messages = await speak(FixtureTextToSpeech(fixture_dir=directory, pace="fast"), "Hello word.")
    assert len(messages) == 1 and isinstance(messages[0], TTSErrorMessage)
    error = messages[0].message
    assert "'Hello word.'" in error
    assert "'Hello world.'" in error
    assert "'Hello from unmute.'" in error
    assert error.index("'Hello world.'") < error.index("'Hello from unmute.'")


def test_unknown_text_lookup_raises_fixture_not_found(tmp_path: Path) -> None:
    library = load_library(fixture_dir(tmp_path, make_session("Hello world.")))
    with pytest.raises(FixtureNotFoundError, match=r"closest recorded texts: 'Hello world\.'"):
        library.find("Goodbye world.")


async def test_no_voice_replays_the_first_session_recorded_for_the_text(tmp_path: Path) -> None:
    first = make_session("Hello world.", voice="alice", seed=1)
    second = make_session("Hello world.", voice="bob", seed=2)
    directory = fixture_dir(tmp_path, first, second)
    messages = await speak(FixtureTextToSpeech(fixture_dir=directory, pace="fast"), first.text)
    assert as_comparable(messages) == as_comparable(first.messages())


async def test_voice_selects_the_session_recorded_with_that_voice(tmp_path: Path) -> None:
    first = make_session("Hello world.", voice="alice", seed=1)
    second = make_session("Hello world.", voice="bob", seed=2)
    directory = fixture_dir(tmp_path, first, second)
    tts = FixtureTextToSpeech("bob", fixture_dir=directory, pace="fast")
    messages = await speak(tts, first.text)
    assert as_comparable(messages) == as_comparable(second.messages())


async def test_unrecorded_voice_fails_at_start_up_naming_recorded_voices(tmp_path: Path) -> None:
    directory = fixture_dir(tmp_path, make_session("Hello world.", voice="alice"))
    tts = FixtureTextToSpeech("carol", fixture_dir=directory, pace="fast")
    with pytest.raises(FixtureError, match=r"'carol'.*recorded voices: alice"):
        await tts.start_up()
    assert tts.state() == "closed"


async def test_text_recorded_only_for_another_voice_names_that_voice(tmp_path: Path) -> None:
    directory = fixture_dir(
        tmp_path, make_session("Hello world.", voice="alice"), make_session("Bye.", voice="bob")
    )
    tts = FixtureTextToSpeech("bob", fixture_dir=directory, pace="fast")
    messages = await speak(tts, "Hello world.")
    assert isinstance(messages[-1], TTSErrorMessage)
    assert "only for voice(s) 'alice'" in messages[-1].message


async def test_recorded_error_replays_as_an_error_message(tmp_path: Path) -> None:
    session = make_session("Hello world.", error="espeak: synthesis crashed")
    directory = fixture_dir(tmp_path, session)
    messages = await speak(FixtureTextToSpeech(fixture_dir=directory, pace="fast"), session.text)
    assert as_comparable(messages[:-1]) == as_comparable(session.messages()[:-1])
    assert isinstance(messages[-1], TTSErrorMessage)
    assert messages[-1].message == "fixture: espeak: synthesis crashed"


async def test_corrupt_file_error_names_the_path(tmp_path: Path) -> None:
    directory = tmp_path / "fixtures"
    directory.mkdir()
    bad = directory / "broken.msgpack"
    bad.write_bytes(b"\xc1 not msgpack at all")
    tts = FixtureTextToSpeech(fixture_dir=directory, pace="fast")
    with pytest.raises(FixtureFormatError, match=re.escape(str(bad))):
        await tts.start_up()


def test_unknown_version_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "future.msgpack"
    data: Any = msgpack.unpackb(encode_sessions([make_session("Hello.")]))
    data["version"] = 99
    path.write_bytes(msgpack.packb(data))  # pyright: ignore[reportArgumentType]
    with pytest.raises(FixtureFormatError, match=rf"{re.escape(str(path))}.*version 99"):
        read_fixture_file(path)


def test_invalid_session_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "invalid.msgpack"
    data: Any = msgpack.unpackb(encode_sessions([make_session("Hello.")]))
    audio = [e for e in data["sessions"][0]["events"] if e["type"] == "Audio"]
    audio[0]["pcm"] = b"\x00\x01\x02"
    path.write_bytes(msgpack.packb(data))  # pyright: ignore[reportArgumentType]
    with pytest.raises(FixtureFormatError, match=rf"(?s){re.escape(str(path))}.*whole number"):
        read_fixture_file(path)


def test_audio_is_stored_as_raw_little_endian_float32_bytes(tmp_path: Path) -> None:
    session = make_session("Hello.")
    data: Any = msgpack.unpackb(encode_sessions([session]))
    audio = [e for e in data["sessions"][0]["events"] if e["type"] == "Audio"]
    assert isinstance(audio[0]["pcm"], bytes)
    assert audio[0]["encoding"] == "f32le"
    assert audio[0]["pcm"] == session.audio().astype("<f4").tobytes()


def test_sessions_round_trip_through_the_file_format(tmp_path: Path) -> None:
    sessions = [make_session("Hello.", voice="alice"), make_session("Bye now.", error="boom")]
    path = tmp_path / "round.msgpack"
    write_fixture_file(path, sessions)
    assert read_fixture_file(path) == sessions


def test_float16_audio_round_trips_within_half_precision() -> None:
    pcm = np.random.default_rng(3).uniform(-1, 1, 1000).astype(np.float32)
    event = AudioEvent.from_array(0.0, pcm, "f16le")
    assert len(event.pcm) == 2000
    np.testing.assert_allclose(event.samples(), pcm, atol=1e-3)
    assert event.samples().dtype == np.float32


def test_missing_fixture_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="does not exist"):
        load_library(tmp_path / "nowhere")


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
