"""Per-session TTS metrics, recorded once in the shared base class."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class TTSMetrics:
    """What one TTS session did. Times are seconds; None means it did not happen."""

    backend: str
    voice: str | None = None
    started_at: float = field(default_factory=time.monotonic)
    first_text_at: float | None = None
    first_audio_at: float | None = None
    finished_at: float | None = None
    audio_s: float = 0.0
    words_sent: int = 0
    words_spoken: int = 0
    retries: int = 0
    errors: int = 0
    interrupted: bool = False
    chain: str | None = None
    """The fallback chain this utterance went through (`backend` is the one that spoke)."""
    fallbacks: list[str] = field(default_factory=lambda: list[str]())
    """Each move to the next backend of the chain: `FROM -> TO (REASON)`."""

    @property
    def ttfa_s(self) -> float | None:
        """Time to first audio: first text sent to first audio received."""
        if self.first_text_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.first_text_at

    @property
    def rtf(self) -> float | None:
        """Real-time factor: wall time from first text to the end, over audio seconds."""
        if self.first_text_at is None or self.finished_at is None or self.audio_s <= 0:
            return None
        return (self.finished_at - self.first_text_at) / self.audio_s

    def summary(self) -> dict[str, Any]:
        """A flat dict with the derived values, for logs and JSON."""
        data = asdict(self)
        data["ttfa_s"] = self.ttfa_s
        data["rtf"] = self.rtf
        return data


MetricsListener = Callable[[TTSMetrics], None]
_listeners: list[MetricsListener] = []


def add_metrics_listener(listener: MetricsListener) -> None:
    """Call `listener` with every session's metrics when the session ends."""
    _listeners.append(listener)


def remove_metrics_listener(listener: MetricsListener) -> None:
    """Stop calling `listener`."""
    if listener in _listeners:
        _listeners.remove(listener)


def publish(metrics: TTSMetrics) -> None:
    """Hand finished-session metrics to every listener; a failing listener is logged."""
    for listener in list(_listeners):
        try:
            listener(metrics)
        except Exception:
            logger.exception("metrics listener %r failed", listener)
