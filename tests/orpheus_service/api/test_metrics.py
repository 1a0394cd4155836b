"""ServiceMetrics as /metrics shows them after speech on a fake engine: sessions, first
audio, real-time factor, cancelled generations, errors by kind."""

from __future__ import annotations

import time

import httpx

from tests.support.service_support import FakeEngine, ServerThread


def await_metrics(server: ServerThread, line: str, timeout_s: float = 5.0) -> str:
    """/metrics once it shows `line` (or as it is after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    text = httpx.get(f"{server.http}/metrics").text
    while line not in text and time.monotonic() < deadline:
        time.sleep(0.01)
        text = httpx.get(f"{server.http}/metrics").text
    return text


def speech_pcm(server: ServerThread) -> httpx.Response:
    body = {"model": "orpheus", "input": "Hello big world", "voice": "tara"}
    return httpx.post(f"{server.http}/v1/audio/speech", json=body | {"response_format": "pcm"})


def test_metrics_report_sessions_audio_and_time_to_first_audio(server: ServerThread) -> None:
    speech_pcm(server)
    text = httpx.get(f"{server.http}/metrics").text
    assert 'orpheus_time_to_first_audio_seconds_count{endpoint="speech"} 1.0' in text
    assert 'orpheus_real_time_factor_ratio_count{endpoint="speech"} 1.0' in text
    assert "orpheus_active_sessions 0.0" in text
    assert "orpheus_dropped_frames_total 0.0" in text
    assert "orpheus_cancelled_generations_total{reason=" not in text


def test_metrics_count_a_cancelled_generation(server: ServerThread, engine: FakeEngine) -> None:
    engine.chunk_delay_s = 0.1
    with httpx.stream(
        "POST",
        f"{server.http}/v1/audio/speech",
        json={"input": "one two three four", "voice": "tara", "response_format": "pcm"},
    ) as r:
        next(r.iter_raw())
    counted = 'orpheus_cancelled_generations_total{reason="client_gone"} 1.0'
    assert counted in await_metrics(server, counted)
    assert engine.cancelled == 1


def test_metrics_count_errors_by_kind(server: ServerThread, engine: FakeEngine) -> None:
    engine.fail_after_words = 0
    speech_pcm(server)
    text = httpx.get(f"{server.http}/metrics").text
    assert 'orpheus_errors_total{kind="internal_error"} 1.0' in text
