"""Upstream unmute's own `UnmuteHandler` speaks through this library, end to end.

A copy of upstream's `unmute/` with the README's one-line change to
`unmute_handler.py` runs in a Python 3.12 environment holding upstream's locked
dependencies and this project (non-editable). `drive_handler.py` drives the handler
(`__aenter__`, `_generate_response`, its quest manager, `rechunk_to_words`,
discovery, `_tts_loop`, `interrupt_bot`), with only the LLM faked and the microphone
clock advancing in real time, through each backend: `kyutai` (the default, against
the local stand-in of Kyutai's server), `espeak`, `piper`, `fixture` and `orpheus` (against the
local service on the tiny GGUF), `openai` (against the local OpenAI-compatible stand-in:
22,050 Hz raw PCM at twice real time, word times estimated), `openai-captioned` (the
stand-in's Kokoro-style captioned speech, exact word times), and `kyutai-cold` (the
default again, against a stand-in that sends Ready only after 2 s: a cold start, far
past discovery's 0.5 s).
`upstream-client` is the reference: the unchanged handler with upstream's own client
against the same stand-in.

Per backend, a full reply, then a reply interrupted once 3 words reached the chat
history. The driver runs every backend of one client in one process (importing
unmute's handler costs seconds), so each test below reads one aspect of that run.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.kyutai_server import KyutaiTTSServer
from tests.support.openai_server import OpenAISpeechServer
from tests.unmute_host.hosting import copy_checkout, host_subprocess_env, last_json_line, run_python

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
"""Slow: the first run builds the Python 3.12 environments (uv downloads their wheels)."""

REPLY = "The quick brown fox jumps over the lazy dog."
"""The LLM's reply; the packaged `fixture` recordings hold this sentence."""
INTERRUPT_AFTER_WORDS = 3
AHEAD_S = 0.32
"""unmute releases audio at most this far ahead of real time (4 frames of 80 ms)."""
TOLERANCE_S = 0.06
DISCOVERY_TIMEOUT_S = 0.5
"""unmute's `find_instance` gives `start_up` this long."""
INTERRUPTION_CHAR = "—"
DRIVER = Path(__file__).with_name("drive_handler.py")
REFERENCE = "upstream-client"
BACKEND_ENV: dict[str, dict[str, str | None]] = {
    "kyutai": {"UNMUTE_TTS_BACKEND": None},
    "espeak": {"UNMUTE_TTS_BACKEND": "espeak"},
    "piper": {"UNMUTE_TTS_BACKEND": "piper"},
    "fixture": {"UNMUTE_TTS_BACKEND": "fixture"},
    "orpheus": {"UNMUTE_TTS_BACKEND": "orpheus"},
    "openai": {"UNMUTE_TTS_BACKEND": "openai", "OPENAI_TTS_WORD_TIMES": "estimate"},
    "openai-captioned": {"UNMUTE_TTS_BACKEND": "openai", "OPENAI_TTS_WORD_TIMES": "captioned"},
    "kyutai-cold": {"UNMUTE_TTS_BACKEND": None},
}
"""The pluggable client's runs, in order; the stand-in's connections follow it."""
STAND_IN_CONNECTIONS = {REFERENCE: 0, "kyutai": 0, "kyutai-cold": 2}
"""Index of each run's first connection to the stand-in (two per run: full, interrupted)."""
COLD_START_S = 2.0
OPENAI_SERVERS = {
    "openai": {"rate": 22050, "realtime": 2.0},
    "openai-captioned": {},
}
"""The OpenAI-compatible stand-in's options, per run (each run has its own stand-in)."""
OPENAI_PATHS = {"openai": "/v1/audio/speech", "openai-captioned": "/dev/captioned_speech"}
CLOSED_STATE = {REFERENCE: "not_created"}
"""State after shutdown; upstream's client forgets its websocket, so reads not_created."""


@dataclass
class HostRun:
    """One driver process: its result per backend and the stand-in it talked to."""

    result: dict[str, Any]
    stand_in: KyutaiTTSServer
    checkout: Path
    log: str
    """The driver's stderr (unmute's and the library's warnings)."""
    orpheus_sessions_after: int | None = None
    """The Orpheus service's active sessions once the driver exited (None: not run)."""
    openai_servers: dict[str, OpenAISpeechServer] | None = None
    """The OpenAI-compatible stand-in of each `openai` run."""


def _cold_from_third_connection(index: int) -> float:
    return COLD_START_S if index >= STAND_IN_CONNECTIONS["kyutai-cold"] else 0.0


def _drive(
    python: Path,
    checkout: Path,
    work: Path,
    runs: dict[str, dict[str, str | None]],
    stand_in: KyutaiTTSServer,
) -> HostRun:
    config = {
        "reply": REPLY,
        "interrupt_after_words": INTERRUPT_AFTER_WORDS,
        "timeout_s": 30,
        "runs": [{"name": name, "env": env} for name, env in runs.items()],
    }
    recordings = work / "recordings"
    recordings.mkdir()
    with stand_in:
        env = host_subprocess_env(
            PYTHONPATH=str(checkout),
            KYUTAI_LLM_MODEL="fake-llm",
            KYUTAI_TTS_URL=stand_in.url,
            KYUTAI_RECORDINGS_DIR=str(recordings),
        )
        done = run_python(python, [str(DRIVER), json.dumps(config)], cwd=work, env=env)
        stand_in.wait_all_closed()
    return HostRun(last_json_line(done.stdout), stand_in, checkout, done.stderr)


@pytest.fixture(scope="module")
def reference_run(
    host_python: Path, upstream_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> HostRun:
    """The unchanged handler, upstream's own client, against the stand-in."""
    work = tmp_path_factory.mktemp("reference")
    checkout = copy_checkout(upstream_dir, work / "checkout", pluggable=False)
    return _drive(host_python, checkout, work, {REFERENCE: {}}, KyutaiTTSServer(speed=2.0))


@pytest.fixture(scope="module")
def pluggable_run(
    host_python: Path,
    upstream_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> HostRun:
    """The handler with the one-line change, every backend in turn."""
    work = tmp_path_factory.mktemp("pluggable")
    checkout = copy_checkout(upstream_dir, work / "checkout", pluggable=True)
    runs = {name: dict(env) for name, env in BACKEND_ENV.items()}
    stand_in = KyutaiTTSServer(speed=2.0, ready_delay_s=_cold_from_third_connection)
    openai_servers = {
        name: OpenAISpeechServer(**options) for name, options in OPENAI_SERVERS.items()
    }
    with_orpheus = any("[orpheus]" in item.nodeid for item in request.session.items)
    try:
        for name, server in openai_servers.items():
            runs[name]["OPENAI_TTS_BASE_URL"] = server.start().url
        if not with_orpheus:
            del runs["orpheus"]
            run = _drive(host_python, checkout, work, runs, stand_in)
        else:
            service = request.getfixturevalue("orpheus_service")
            runs["orpheus"]["ORPHEUS_FASTAPI_URL"] = service.url
            run = _drive(host_python, checkout, work, runs, stand_in)
            run.orpheus_sessions_after = _active_sessions(service.url)
    finally:
        for server in openai_servers.values():
            server.stop()
    run.openai_servers = openai_servers
    return run


def _active_sessions(url: str, settle_s: float = 5.0) -> int:
    """The service's active sessions (from /health), once they reach 0 or `settle_s` passed."""
    deadline = time.monotonic() + settle_s
    while True:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            active = int(json.load(response)["active_sessions"])
        if active == 0 or time.monotonic() > deadline:
            return active
        time.sleep(0.05)


@pytest.fixture(
    params=[
        REFERENCE,
        "kyutai",
        "kyutai-cold",
        "espeak",
        "piper",
        "fixture",
        pytest.param("orpheus", marks=[pytest.mark.llama, pytest.mark.slow]),
        "openai",
        "openai-captioned",
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The client and backend the handler spoke through."""
    return request.param


@pytest.fixture
def run(backend: str, request: pytest.FixtureRequest) -> HostRun:
    """The driver process that ran `backend`."""
    return request.getfixturevalue("reference_run" if backend == REFERENCE else "pluggable_run")


@pytest.fixture
def turns(backend: str, run: HostRun) -> dict[str, Any]:
    """`{"full": ..., "interrupt": ...}`: what the driver saw for `backend`."""
    outcome: dict[str, Any] = run.result[backend]
    if "error" in outcome:
        log = run.log[-4000:]
        pytest.fail(f"driving the handler through {backend} failed:\n{outcome['error']}\n{log}")
    return outcome


def _released(turn: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """The messages the TTS client yielded, and the clock time of its first audio."""
    observed: list[dict[str, Any]] = turn["observations"]
    first_audio = next(o["t"] for o in observed if o["type"] == "Audio")
    return observed, first_audio


def test_the_handler_imports_its_client_from_the_changed_line(backend: str, run: HostRun) -> None:
    expected = "text_to_speech" if backend == REFERENCE else "pluggable"
    assert run.result["tts_class"] == f"unmute.tts.{expected}.TextToSpeech"


def test_upstream_modules_import_from_the_checkout_beside_the_installed_library(
    run: HostRun,
) -> None:
    modules = run.result["modules"]
    for name in ("unmute.unmute_handler", "unmute.tts.text_to_speech", "unmute.metrics"):
        assert Path(modules[name]).is_relative_to(run.checkout), name
    assert "site-packages" in Path(modules["unmute.tts.pluggable"]).parts


def test_the_whole_reply_reaches_the_chat_history(turns: dict[str, Any]) -> None:
    full = turns["full"]
    assert full["errors"] == []
    assert full["history_reply"].split() == REPLY.split()


def test_each_word_is_released_no_earlier_than_its_start_time(turns: dict[str, Any]) -> None:
    observed, first_audio = _released(turns["full"])
    early = [
        (o["text"], o["start_s"], round(o["t"] - first_audio, 3))
        for o in observed
        if o["type"] == "Text" and o["t"] - first_audio < o["start_s"] - TOLERANCE_S
    ]
    assert early == []


def test_audio_is_released_at_most_the_buffer_ahead_of_real_time(
    turns: dict[str, Any],
) -> None:
    observed, first_audio = _released(turns["full"])
    released_s = 0.0
    leads: list[float] = []
    for o in observed:
        if o["type"] == "Audio":
            leads.append(released_s - (o["t"] - first_audio))
            released_s += o["samples"] / 24000
    assert max(leads) <= AHEAD_S + TOLERANCE_S
    assert released_s > 1.0  # the reply was spoken, not cut short


def test_an_interruption_keeps_the_words_heard_and_not_the_rest(turns: dict[str, Any]) -> None:
    turn = turns["interrupt"]
    heard = turn["history_at_interrupt"].split()
    assert heard == turn["released_at_interrupt"]
    observed, first_audio = _released(turn)
    played_s = turn["interrupted_at"] - first_audio
    unheard = [
        (o["text"], o["start_s"])
        for o in observed
        if o["type"] == "Text"
        and o["t"] <= turn["interrupted_at"]
        and o["start_s"] > played_s + TOLERANCE_S
    ]
    assert unheard == [], f"words in the history the listener had not heard at {played_s:.2f} s"
    assert INTERRUPT_AFTER_WORDS <= len(heard) < len(REPLY.split())
    assert heard == REPLY.split()[: len(heard)]
    later = turn["history_after_interrupt"]
    assert later.endswith(INTERRUPTION_CHAR)
    assert later.removesuffix(INTERRUPTION_CHAR).split() == heard


def test_the_tts_is_closed_after_a_reply_and_after_an_interruption(
    backend: str, turns: dict[str, Any]
) -> None:
    closed = CLOSED_STATE.get(backend, "closed")
    assert turns["full"]["state_after_turn"] == closed
    assert turns["interrupt"]["state_after_interrupt"] == closed


@pytest.mark.parametrize("backend", [REFERENCE, "kyutai", "kyutai-cold"])
def test_the_kyutai_server_sees_both_connections_close(backend: str, run: HostRun) -> None:
    first = STAND_IN_CONNECTIONS[backend]
    full, interrupted = run.stand_in.connections[first : first + 2]
    assert all(c.closed.is_set() for c in (full, interrupted))
    assert full.query["format"] == "PcmMessagePack"
    assert full.headers["kyutai-api-key"] == "public_token"
    assert full.texts == REPLY.split()
    assert full.got_eos
    assert interrupted.closed_by == "client"


@pytest.mark.parametrize(
    "backend", [pytest.param("orpheus", marks=[pytest.mark.llama, pytest.mark.slow])]
)
def test_the_orpheus_service_sees_every_session_end(run: HostRun) -> None:
    assert run.orpheus_sessions_after == 0


SPOKEN_BY = {"kyutai-cold": "kyutai", "openai-captioned": "openai"}
"""The backend of runs not named after theirs."""


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(name, marks=[pytest.mark.llama]) if name == "orpheus" else name
        for name in BACKEND_ENV
    ],
)
def test_each_run_is_spoken_by_the_backend_it_names(backend: str, turns: dict[str, Any]) -> None:
    expected = SPOKEN_BY.get(backend, backend)
    assert [turns["full"]["backend"], turns["interrupt"]["backend"]] == [expected, expected]


@pytest.mark.parametrize("backend", list(OPENAI_PATHS))
def test_the_openai_server_is_asked_for_the_reply_at_its_endpoint(
    backend: str, run: HostRun
) -> None:
    assert run.openai_servers is not None
    requests = run.openai_servers[backend].requests
    assert {r.path for r in requests} == {OPENAI_PATHS[backend]}
    asked = [word for r in requests for word in str(r.body["input"]).split()]
    assert asked[: len(REPLY.split())] == REPLY.split()  # the full turn's requests come first


def test_nothing_is_left_running_or_open(turns: dict[str, Any]) -> None:
    for name in ("full", "interrupt"):
        turn = turns[name]
        assert turn["pending_tasks"] == [], name
        assert turn["socket_fds_after"] <= turn["socket_fds_before"], name


def _delta(turn: dict[str, Any], metric: str) -> float:
    return turn["metrics_after"][metric] - turn["metrics_before"][metric]


@pytest.mark.parametrize("backend", ["kyutai-cold"])
def test_a_cold_start_is_spoken_once_the_backend_is_ready(turns: dict[str, Any]) -> None:
    _, first_audio = _released(turns["full"])
    assert first_audio >= COLD_START_S
    assert turns["full"]["history_reply"].split() == REPLY.split()


def test_start_up_fits_in_the_time_unmute_discovery_allows(turns: dict[str, Any]) -> None:
    for name in ("full", "interrupt"):
        turn = turns[name]
        assert _delta(turn, "worker_tts_ping_time_count") == 1, name  # accepted at once
        assert _delta(turn, "worker_tts_misses_total") == 0, name
        assert _delta(turn, "worker_hard_tts_misses_total") == 0, name
        assert _delta(turn, "worker_tts_ping_time_sum") < DISCOVERY_TIMEOUT_S, name


def test_unmute_metrics_count_each_turn(turns: dict[str, Any]) -> None:
    full = turns["full"]
    audio = [o for o in full["observations"] if o["type"] == "Audio"]
    assert _delta(full, "worker_tts_sessions_total") == 1
    assert _delta(full, "worker_tts_active_sessions") == 0
    assert _delta(full, "worker_tts_sent_frames_total") == len(REPLY.split())
    assert _delta(full, "worker_tts_recv_frames_total") == len(audio)
    assert _delta(full, "worker_tts_ttft_count") == 1
    assert _delta(full, "worker_tts_audio_duration_sum") == pytest.approx(
        full["received_samples"] / 24000
    )
    interrupted = turns["interrupt"]
    assert _delta(interrupted, "worker_tts_sessions_total") == 1
    assert _delta(interrupted, "worker_tts_active_sessions") == 0


def test_the_recorder_gets_an_audio_event_per_frame_received(turns: dict[str, Any]) -> None:
    full = turns["full"]
    recorded = [
        event["number_of_samples"]
        for event in full["recorded"]
        if event["type"] == "unmute.response.audio.delta.ready"
    ]
    assert sum(recorded) == full["received_samples"] == full["received_samples_yielded"]
    assert len(recorded) == len([o for o in full["observations"] if o["type"] == "Audio"])
