"""The recorder wraps any TextToSpeech, records the session, and the fixture replays it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.fixture.format import (
    AudioEvent,
    ErrorEvent,
    ReadyEvent,
    TextEvent,
    read_fixture_file,
    write_fixture_file,
)
from backends.fixture.recorder import (
    RecordingError,
    RecordingTextToSpeech,
    record_fixtures,
    record_fixtures_async,
    record_session,
)
from backends.fixture.replay import FixtureTextToSpeech
from tests.support.sessions import speak
from tests.support.waiting import FakeClock
from unmute.tts.protocol import (
    OutputMessage,
    TextToSpeech,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSState,
    TTSTextMessage,
)


class ScriptedTTS:
    """A plain TextToSpeech (no base class): each word becomes a word and a random chunk.

    Time is `clock`'s: start-up takes 0.01 s of it, each word `chunk_delay_s`."""

    backend_name = "scripted"

    def __init__(
        self,
        *,
        fail_on: str | None = None,
        chunk_delay_s: float = 0.0,
        clock: FakeClock | None = None,
    ) -> None:
        self.voice = "robot"
        self.fail_on = fail_on
        self.chunk_delay_s = chunk_delay_s
        self.clock = clock or FakeClock()
        self.shutdowns = 0
        self._state: TTSState = "not_created"
        self._words: asyncio.Queue[str | None] = asyncio.Queue()
        self._rng = np.random.default_rng(7)

    async def start_up(self) -> None:
        self._state = "connecting"
        self.clock.now += 0.01
        self._state = "connected"

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        if isinstance(message, TTSClientEosMessage):
            self._words.put_nowait(None)
        else:
            text = message if isinstance(message, str) else message.text
            self._words.put_nowait(text.strip())

    async def __aiter__(self) -> AsyncIterator[OutputMessage]:
        t = 0.0
        while self._state == "connected":
            word = await self._words.get()
            if word is None:
                break
            if word == self.fail_on:
                yield TTSErrorMessage(message=f"scripted: cannot say {word!r}")
                break
            self.clock.now += self.chunk_delay_s
            yield TTSTextMessage(text=word, start_s=t, stop_s=t + 0.1)
            yield TTSAudioMessage(pcm=self._rng.uniform(-1, 1, 2400).astype(np.float32))
            t += 0.1
        await self.shutdown()

    async def shutdown(self) -> None:
        self.shutdowns += 1
        self._state = "closed"

    def state(self) -> TTSState:
        return self._state


def comparable(messages: list[OutputMessage]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for m in messages:
        if isinstance(m, TTSAudioMessage):
            out.append(("Audio", np.asarray(m.pcm, dtype=np.float32).tobytes()))
        else:
            out.append((m.type, m.model_dump()))
    return out


def test_recorder_is_a_text_to_speech() -> None:
    assert isinstance(RecordingTextToSpeech(ScriptedTTS()), TextToSpeech)


async def test_recorded_session_replays_identically_through_the_fixture_backend(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rec.msgpack"
    recorder = RecordingTextToSpeech(ScriptedTTS(chunk_delay_s=0.01))
    original = await speak(recorder, "Hello from the recorder.")
    recorder.save(path)
    replayed = await speak(FixtureTextToSpeech(fixture_dir=path, pace="fast"), recorder.text)
    assert comparable(replayed) == comparable(original)
    assert len(original) == 8


async def test_recorder_records_text_backend_voice_and_ordered_relative_times() -> None:
    clock = FakeClock()
    recorder = RecordingTextToSpeech(ScriptedTTS(chunk_delay_s=0.02, clock=clock), clock=clock)
    await speak(recorder, "one  two three")
    session = recorder.session()
    assert (session.backend, session.voice, session.text) == ("scripted", "robot", "one two three")
    assert isinstance(session.events[0], ReadyEvent)
    assert session.events[0].time_s == pytest.approx(0.01)
    kinds = [type(e) for e in session.events[1:]]
    assert kinds == [TextEvent, AudioEvent] * 3
    times = [e.time_s for e in session.events[1:]]
    assert times == pytest.approx([0.02, 0.02, 0.04, 0.04, 0.06, 0.06])


async def test_recorder_labels_override_the_wrapped_attributes() -> None:
    recorder = RecordingTextToSpeech(ScriptedTTS(), backend="espeak", voice="en-us")
    await speak(recorder, "hi")
    assert (recorder.session().backend, recorder.session().voice) == ("espeak", "en-us")


async def test_recorder_forwards_state() -> None:
    inner = ScriptedTTS()
    recorder = RecordingTextToSpeech(inner)
    assert recorder.state() == "not_created"
    await recorder.start_up()
    assert recorder.state() == inner.state() == "connected"
    await recorder.shutdown()
    assert recorder.state() == "closed"


async def test_recorder_forwards_shutdown_every_time() -> None:
    inner = ScriptedTTS()
    recorder = RecordingTextToSpeech(inner)
    await recorder.start_up()
    await recorder.shutdown()
    await recorder.shutdown()
    assert inner.shutdowns == 2


async def test_recorder_forwards_text_messages_and_eos() -> None:
    inner = ScriptedTTS()
    recorder = RecordingTextToSpeech(inner)
    await recorder.start_up()
    await recorder.send(TTSClientTextMessage(text=" Hi "))
    await recorder.send("there")
    await recorder.send(TTSClientEosMessage())
    words = [m.text async for m in recorder if isinstance(m, TTSTextMessage)]
    assert words == ["Hi", "there"]
    assert recorder.text == "Hi there"
    assert recorder.completed


async def test_recorded_error_replays_as_an_error_message(tmp_path: Path) -> None:
    path = tmp_path / "rec.msgpack"
    recorder = RecordingTextToSpeech(ScriptedTTS(fail_on="boom"), path=path)
    original = await speak(recorder, "say boom now")
    assert isinstance(original[-1], TTSErrorMessage)
    assert isinstance(read_fixture_file(path)[0].events[-1], ErrorEvent)
    replayed = await speak(FixtureTextToSpeech(fixture_dir=path, pace="fast"), "say boom now")
    assert comparable(replayed[:-1]) == comparable(original[:-1])
    assert isinstance(replayed[-1], TTSErrorMessage)
    assert replayed[-1].message == "fixture: scripted: cannot say 'boom'"


async def test_recorder_with_a_path_saves_at_the_end_of_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "auto.msgpack"
    recorder = RecordingTextToSpeech(ScriptedTTS(), path=path)
    await speak(recorder, "saved at the end")
    assert recorder.saved_to == path
    assert [s.text for s in read_fixture_file(path)] == ["saved at the end"]


async def test_interrupted_session_is_not_saved_automatically(tmp_path: Path) -> None:
    path = tmp_path / "auto.msgpack"
    recorder = RecordingTextToSpeech(ScriptedTTS(), path=path)
    await recorder.start_up()
    for word in ["never", "saved", "here"]:
        await recorder.send(word)
    await recorder.send(TTSClientEosMessage())
    async for _ in recorder:
        break
    await recorder.shutdown()
    assert not recorder.completed
    assert not path.exists()


def test_save_without_a_path_is_an_error() -> None:
    with pytest.raises(RecordingError, match="path"):
        RecordingTextToSpeech(ScriptedTTS()).save()


async def test_saving_appends_and_replaces_the_same_text_and_voice(tmp_path: Path) -> None:
    path = tmp_path / "rec.msgpack"
    await record_session(ScriptedTTS(), "first text", path)
    await record_session(ScriptedTTS(), "second text", path)
    again = await record_session(ScriptedTTS(), "first  text", path)
    sessions = read_fixture_file(path)
    assert [s.text for s in sessions] == ["second text", "first text"]
    assert sessions[1].audio().tobytes() == again.audio().tobytes()


async def test_record_session_sends_word_by_word_and_shuts_down(tmp_path: Path) -> None:
    inner = ScriptedTTS()
    session = await record_session(inner, "a b c", word_interval_s=0.01)
    assert [e.text for e in session.events if isinstance(e, TextEvent)] == ["a", "b", "c"]
    assert inner.state() == "closed"
    text_times = [e.time_s for e in session.events if isinstance(e, TextEvent)]
    assert text_times[-1] >= 0.015


async def test_record_fixtures_records_a_registered_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.msgpack"
    for text in ["Hello world.", "Second one."]:
        await record_session(ScriptedTTS(), text, source)
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(source))
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    target = tmp_path / "out" / "copy.msgpack"
    sessions = await record_fixtures_async("fixture", ["Hello world.", "Second one."], target)
    stored = read_fixture_file(target)
    assert [s.text for s in stored] == ["Hello world.", "Second one."]
    assert {s.backend for s in stored} == {"fixture"}
    assert stored[0].audio().tobytes() == read_fixture_file(source)[0].audio().tobytes()
    assert [s.text for s in sessions] == ["Hello world.", "Second one."]


async def test_record_fixtures_refuses_a_session_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.msgpack"
    write_fixture_file(source, [])
    await record_session(ScriptedTTS(), "Hello world.", source)
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(source))
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    target = tmp_path / "copy.msgpack"
    with pytest.raises(RecordingError, match="Unknown text"):
        await record_fixtures_async("fixture", ["Hello world.", "Unknown text."], target)
    assert not target.exists()


def test_record_fixtures_runs_without_an_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.msgpack"
    asyncio.run(record_session(ScriptedTTS(), "Sync call.", source))
    monkeypatch.setenv("UNMUTE_FIXTURE_DIR", str(source))
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    target = tmp_path / "copy.msgpack"
    record_fixtures("fixture", ["Sync call."], target)
    assert [s.text for s in read_fixture_file(target)] == ["Sync call."]
