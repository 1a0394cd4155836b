"""The fixture file format: sessions round-trip, audio is stored as raw little-endian
samples (float32, or float16 within half precision), and a bad file is an error that
names it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from backends.fixture.format import (
    AudioEvent,
    FixtureFormatError,
    encode_sessions,
    read_fixture_file,
    write_fixture_file,
)
from tests.support.fixture_sessions import make_session


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
