"""Per-session metrics: derived times, and listeners called when a session ends."""

from __future__ import annotations

import pytest

from unmute.tts.session_metrics import (
    TTSMetrics,
    add_metrics_listener,
    publish,
    remove_metrics_listener,
)


def test_time_to_first_audio_counts_from_the_first_text() -> None:
    metrics = TTSMetrics("fake", started_at=0.0, first_text_at=1.0, first_audio_at=1.25)
    assert metrics.ttfa_s == pytest.approx(0.25)


def test_real_time_factor_is_wall_time_over_audio_seconds() -> None:
    metrics = TTSMetrics("fake", first_text_at=1.0, finished_at=3.0, audio_s=4.0)
    assert metrics.rtf == pytest.approx(0.5)


def test_a_session_without_audio_has_no_ttfa_or_rtf() -> None:
    metrics = TTSMetrics("fake", first_text_at=1.0, finished_at=2.0)
    assert (metrics.ttfa_s, metrics.rtf) == (None, None)
    assert metrics.summary()["ttfa_s"] is None and metrics.summary()["backend"] == "fake"


def test_listeners_get_published_metrics_until_removed() -> None:
    seen: list[TTSMetrics] = []
    add_metrics_listener(seen.append)
    try:
        first = TTSMetrics("fake")
        publish(first)
    finally:
        remove_metrics_listener(seen.append)
    publish(TTSMetrics("fake"))
    assert seen == [first]


def test_a_failing_listener_is_logged_and_the_others_still_called(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[TTSMetrics] = []

    def broken(metrics: TTSMetrics) -> None:
        raise RuntimeError("listener bug")

    add_metrics_listener(broken)
    add_metrics_listener(seen.append)
    try:
        publish(TTSMetrics("fake"))
    finally:
        remove_metrics_listener(broken)
        remove_metrics_listener(seen.append)
    assert len(seen) == 1
    assert "listener" in caplog.text and "listener bug" in caplog.text
