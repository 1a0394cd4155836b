"""FixtureTextToSpeech replays recorded sessions exactly, at recorded pace or fast, finds
them by text and voice, and names what it cannot find."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.fixture.format import (
    FixtureFormatError,
)
from backends.fixture.replay import (
    FixtureError,
    FixtureNotFoundError,
    FixtureTextToSpeech,
    load_library,
)
from tests.support.fixture_sessions import fixture_dir, make_session
from tests.support.sessions import speak
from unmute.tts.protocol import (
    OutputMessage,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSErrorMessage,
)


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


def test_missing_fixture_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="does not exist"):
        load_library(tmp_path / "nowhere")
