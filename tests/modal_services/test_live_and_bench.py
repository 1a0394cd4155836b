"""The live tests and bench/live.py without a deployment: they skip or stop cleanly,
and pass against a local service (fake engine), so they are runnable code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.modal_services.helpers import ROOT, clean_env, run_python


def test_bench_live_stops_with_a_clear_message_without_a_deployment(tmp_path: Path) -> None:
    result = run_python(["bench/live.py"], clean_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "ORPHEUS_FASTAPI_URL" in result.stderr
    assert "unmute-tts deploy" in result.stderr


def test_bench_goals_are_p50_200ms_at_1_and_p95_500ms_at_16() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import live as bench

    fast = [bench.SessionResult(ttfa_s=0.15, audio_s=3.0, wall_s=1.0)] * 5
    slow = [bench.SessionResult(ttfa_s=0.6, audio_s=3.0, wall_s=1.0)] * 20
    levels = [bench.summarize(1, fast), bench.summarize(16, slow)]
    goals = bench.check_goals(levels)
    assert [(g["goal"], g["met"]) for g in goals] == [
        ("ttfa_p50_ms <= 200 at 1 session(s)", True),
        ("ttfa_p95_ms <= 500 at 16 session(s)", False),
    ]
    assert levels[0].rtf_p50 == pytest.approx(1 / 3, abs=1e-3)


def test_bench_percentiles_interpolate_between_ranks() -> None:
    from bench.live import percentile

    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def run_live_tests(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["-m", "pytest", "-m", "live", "tests/live", "-rs", "-q", "-p", "no:cacheprovider"]
    return run_python(args, env, timeout=300)


def test_live_tests_skip_with_the_reason_without_a_deployment(tmp_path: Path) -> None:
    result = run_live_tests(clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" not in result.stdout and "failed" not in result.stdout
    assert "skipped" in result.stdout
    assert "ORPHEUS_FASTAPI_URL is not set" in result.stdout


@pytest.fixture
def local_service() -> Iterator[str]:
    from tests.support.service_support import FakeEngine, start_fake_service

    server = start_fake_service(FakeEngine(chunk_delay_s=0.01), api_key="live-key")
    try:
        yield server.http
    finally:
        server.stop()


@pytest.mark.slow
def test_live_tests_pass_against_a_local_service(tmp_path: Path, local_service: str) -> None:
    env = clean_env(tmp_path, ORPHEUS_FASTAPI_URL=local_service, ORPHEUS_API_KEY="live-key")
    result = run_live_tests(env)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed" not in summary and "skipped" not in summary, summary


def test_bench_live_measures_a_local_service(tmp_path: Path, local_service: str) -> None:
    env = clean_env(tmp_path, ORPHEUS_FASTAPI_URL=local_service, ORPHEUS_API_KEY="live-key")
    result = run_python(
        ["bench/live.py", "--sessions", "1,4", "--rounds", "2", "--json"], env, timeout=120
    )
    report = json.loads(result.stdout)
    assert [level["sessions"] for level in report["levels"]] == [1, 4]
    assert [level["runs"] for level in report["levels"]] == [2, 8]
    assert all(level["errors"] == 0 for level in report["levels"])
    assert report["levels"][0]["ttfa_p50_ms"] is not None
    assert report["levels"][0]["rtf_p50"] is not None
    assert [goal["goal"] for goal in report["goals"]] == ["ttfa_p50_ms <= 200 at 1 session(s)"]
    assert result.returncode == (0 if report["ok"] else 1)
