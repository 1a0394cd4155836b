"""Recorded sessions made up for the fixture backend's tests, and a folder holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backends.fixture.format import (
    AudioEvent,
    ErrorEvent,
    ReadyEvent,
    RecordedSession,
    TextEvent,
    write_fixture_file,
)


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
    """A fixture folder under `tmp_path` with `sessions` in one file."""
    directory = tmp_path / "fixtures"
    write_fixture_file(directory / "test.msgpack", list(sessions))
    return directory
