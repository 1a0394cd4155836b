"""Stand-ins for upstream unmute's modules, and helpers driving the drop-in client.

`install_fake_unmute(monkeypatch)` puts small fakes of `unmute.metrics`,
`unmute.exceptions` and `unmute.openai_realtime_api_events` in `sys.modules`, so
`unmute.tts.upstream` sees "inside unmute" without upstream installed.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import pytest

from tests.support.fake_backend import FakeTextToSpeech
from unmute.tts import upstream
from unmute.tts.pluggable import TextToSpeech, TTSClientEosMessage, TTSTextMessage
from unmute.tts.protocol import OutputMessage


class FakeMetric:
    """A Prometheus counter, gauge or histogram: inc, dec, observe."""

    def __init__(self) -> None:
        self.value = 0.0
        self.observed: list[float] = []

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def observe(self, value: float) -> None:
        self.observed.append(value)


METRIC_NAMES = (
    "TTS_SESSIONS",
    "TTS_ACTIVE_SESSIONS",
    "TTS_TTFT",
    "TTS_SENT_FRAMES",
    "TTS_RECV_FRAMES",
    "TTS_RECV_WORDS",
    "TTS_AUDIO_DURATION",
    "TTS_GEN_DURATION",
)
"""Upstream's `worker_tts_*` metrics its TTS client counts."""


class MissingServiceAtCapacity(Exception):
    """As upstream's `unmute.exceptions.MissingServiceAtCapacity`."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"{service} is not available.")


class AudioDeltaReady:
    """As upstream's `UnmuteResponseAudioDeltaReady` event."""

    def __init__(self, number_of_samples: int) -> None:
        self.number_of_samples = number_of_samples


class Recorder:
    """As upstream's Recorder: keeps every event added."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def add_event(self, who: str, event: Any) -> None:
        self.events.append((who, event))


def install_fake_unmute(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeMetric]:
    """Fake upstream's metrics, exceptions and events modules; the metrics by name."""
    metrics = ModuleType(upstream.METRICS)
    fakes = {name: FakeMetric() for name in METRIC_NAMES}
    for name, metric in fakes.items():
        setattr(metrics, name, metric)
    exceptions = ModuleType(upstream.EXCEPTIONS)
    exceptions.MissingServiceAtCapacity = MissingServiceAtCapacity  # type: ignore[attr-defined]
    events = ModuleType(upstream.EVENTS)
    events.UnmuteResponseAudioDeltaReady = AudioDeltaReady  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, upstream.METRICS, metrics)
    monkeypatch.setitem(sys.modules, upstream.EXCEPTIONS, exceptions)
    monkeypatch.setitem(sys.modules, upstream.EVENTS, events)
    upstream.refresh()
    return fakes


def client(fake: FakeTextToSpeech | None = None, **kwargs: Any) -> TextToSpeech:
    """The drop-in client over a fake backend session."""
    backend = fake or FakeTextToSpeech()
    return TextToSpeech(tts_factory=lambda: backend, **kwargs)


async def say(tts: TextToSpeech, text: str) -> None:
    """Send `text` word by word, then end of stream, as unmute's handler does."""
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())


async def collect(tts: TextToSpeech) -> list[OutputMessage]:
    """Every message of the stream."""
    return [message async for message in tts]


def words(messages: list[OutputMessage]) -> list[str]:
    """The words among `messages`."""
    return [m.text for m in messages if isinstance(m, TTSTextMessage)]
