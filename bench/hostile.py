"""Hostile clients against the local service: can one client stall or exhaust it?

While `--normal` sessions stream on unmute's socket (/api/tts_streaming: a few
sentences word by word, Eos, audio back, again and again), one hostile client (in a
process of its own, so that its work never delays the normal clients)
runs each attack in turn:

- `text_1mb_message`: 1 MB of text in one Text message;
- `text_1mb_words`: 1 MB of text as one-word Text messages;
- `request_100k`: a 100,000-character POST /v1/audio/speech/stream, read for a while;
- `idle_sockets`: sockets on both WebSockets that send nothing, up to the session
  limit (the service closes them after `--idle-timeout`);
- `malformed_frames`: bad msgpack, JSON, types, nesting, lone surrogates, wrong
  frame kinds, on both WebSockets;
- `connect_disconnect`: sockets and requests dropped at every stage, many at once.

Per attack (and a `baseline` without one) it prints: the service's event loop's
worst stall (`loop_stall_ms`, measured inside the service process by a task that
sleeps 2 ms at a time; `loop_busy_ms`: the most CPU time the loop's thread used
between two of its wake-ups, which other processes on the machine cannot inflate),
the normal sessions' worst gap between audio chunks (`gap_ms`) and their least
audio in hand (`headroom_ms`: audio received minus
time since the first audio, at each arrival; below 0 the player ran dry, counted
in `starved`), normal sessions refused, worst `/health` latency, the sessions
(`sessions_left`) and llama-server slots (`slots_left`) still busy once the
normal sessions ended and the service settled, ERROR lines in the service's log,
and what the attacker got. Goal: loop stall <= 50 ms, nothing starved, nothing left.

Setup: the service in a child process (uvicorn, the app, the real engine and
batching scheduler, a small random-weight SNAC, torch 1 thread,
ORPHEUS_MAX_SESSIONS_PER_CLIENT `--per-client`) against llama-server with the tiny
orpheus-like GGUF of the tests (`-t 1`, one slot per session), all on this machine.
Each normal client and the attacker connect from a loopback address of their own
(127.0.1.N, 127.0.0.2): to the service, distinct clients. `--layout split` (the
default) gives llama-server the last core and the service the others, as deployed
(llama-server and the service run on machines of their own); `shared` lets every
process use every core. The attacker runs at `--attacker-nice` (19: a remote client,
whose own CPU is not the service's).

    .venv/bin/python -m bench.hostile [--normal 2] [--layout shared] [--attacker-nice 0] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.cpus import pin_process
from bench.hostile_attacks import ATTACKS, Target
from orpheus_service.serving import WS_IMPLEMENTATIONS
from orpheus_service.settings import OrpheusSettings
from tests.support.service_support import pack, unpack

ROOT = Path(__file__).resolve().parents[1]

SAMPLE_RATE = 24000
NORMAL_TEXT = (
    "Hello there, how are you doing today? I hope the weather is nice where you are. "
    "Tell me all about your day when you have a moment."
)
STALL_GOAL_MS = 50.0


@dataclass
class NormalStats:
    """What the normal sessions saw during one attack."""

    sessions: int = 0
    refused: int = 0
    failed: int = 0
    worst_gap_s: float = 0.0
    min_headroom_s: float = float("inf")
    starved: int = 0


@dataclass
class Row:
    """One attack's results."""

    attack: str
    loop_stall_ms: float
    loop_busy_ms: float
    gc_ms: float
    gap_ms: float
    headroom_ms: float
    starved: int
    normal_sessions: int
    refused: int
    health_ms: float
    sessions_left: int
    slots_left: int
    errors_logged: int
    outcome: str


async def normal_session(ws_url: str, stats: NormalStats, source: str) -> None:
    """One normal session from address `source`: text word by word, Eos, read all audio."""
    url = f"{ws_url}/api/tts_streaming?format=PcmMessagePack&voice=tara"
    try:
        connecting = websockets.connect(url, max_size=None, open_timeout=30, local_addr=(source, 0))
        async with connecting as ws:
            first = unpack(await asyncio.wait_for(ws.recv(), 30))
            if first["type"] == "Error":
                stats.refused += 1
                await asyncio.sleep(0.2)
                return
            for index, word in enumerate(NORMAL_TEXT.split()):
                await ws.send(pack({"type": "Text", "text": word if index == 0 else f" {word}"}))
            await ws.send(pack({"type": "Eos"}))
            start: float | None = None
            last = 0.0
            held = 0.0
            async for raw in ws:
                message = unpack(raw)
                if message["type"] == "Error":
                    stats.failed += 1
                    return
                if message["type"] != "Audio":
                    continue
                now = time.perf_counter()
                if start is None:
                    start = now
                else:
                    stats.worst_gap_s = max(stats.worst_gap_s, now - last)
                    headroom = held - (now - start)
                    stats.min_headroom_s = min(stats.min_headroom_s, headroom)
                    if headroom < 0:
                        stats.starved += 1
                        start = now - held  # count each dry spell once
                held += len(message["pcm"]) / SAMPLE_RATE
                last = now
            stats.sessions += 1
    except (OSError, TimeoutError, websockets.ConnectionClosed):
        stats.failed += 1


def normal_source(index: int) -> str:
    """The loopback address of normal client `index`: each one a client of its own."""
    return f"127.0.1.{index + 1}"


async def normal_load(ws_url: str, count: int, stop: asyncio.Event, stats: NormalStats) -> None:
    async def loop(index: int) -> None:
        while not stop.is_set():
            await normal_session(ws_url, stats, normal_source(index))

    await asyncio.gather(*(loop(index) for index in range(count)))


async def health_poll(http: str, stop: asyncio.Event) -> float:
    """Worst /health latency (s) while polling every 100 ms until `stop`."""
    worst = 0.0
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            began = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"{http}/health")
            worst = max(worst, time.perf_counter() - began)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    return worst


async def probe(http: str, *, reset: bool = False) -> dict[str, Any]:
    """The child's loop monitor and session counts (`reset` starts a new stall window)."""
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.get(f"{http}/__bench/probe", params={"reset": int(reset)})
        return reply.json()


async def busy_slots(llama_url: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        slots = (await client.get(f"{llama_url}/slots")).json()
        return sum(1 for slot in slots if slot.get("is_processing"))


async def settle(http: str, llama_url: str, timeout_s: float = 15.0) -> tuple[int, int]:
    """(sessions, busy llama slots) once both are 0, or as they are after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        sessions = int((await probe(http))["sessions"])
        slots = await busy_slots(llama_url)
        if (sessions == 0 and slots == 0) or time.monotonic() > deadline:
            return sessions, slots
        await asyncio.sleep(0.1)


def count_errors(log_path: Path, offset: int) -> tuple[int, int]:
    """(ERROR lines in the service log after `offset`, the new offset)."""
    data = log_path.read_bytes()
    lines = data[offset:].decode(errors="replace").splitlines()
    return sum(1 for line in lines if line.startswith("ERROR")), len(data)


def attack_in_process(name: str, target: Target, nice: int) -> str:
    """Run one attack to its end in this (worker) process; what the attacker got."""
    os.nice(max(0, nice - os.nice(0)))
    return asyncio.run(ATTACKS[name](target))


async def run_attack(
    name: str,
    attacker: ProcessPoolExecutor | None,
    target: Target,
    args: argparse.Namespace,
    log_offset: int,
) -> tuple[Row, int]:
    await settle(target.http, target.llama_url)
    await probe(target.http, reset=True)
    stop = asyncio.Event()
    stats = NormalStats()
    load = asyncio.create_task(normal_load(target.ws, args.normal, stop, stats))
    health = asyncio.create_task(health_poll(target.http, stop))
    await asyncio.sleep(args.warmup)
    try:
        outcome = "-"
        if attacker is not None:  # its own process: its CPU never delays the normal clients
            running = asyncio.get_running_loop().run_in_executor(
                attacker, attack_in_process, name, target, args.attacker_nice
            )
            outcome = await asyncio.wait_for(running, args.attack_timeout)
    except TimeoutError:
        outcome = f"attack still running after {args.attack_timeout} s"
    await asyncio.sleep(args.after)
    stop.set()
    await load
    worst_health = await health
    loop = await probe(target.http)
    sessions, slots = await settle(target.http, target.llama_url)
    errors, log_offset = count_errors(target.log_path, log_offset)
    row = Row(
        attack=name,
        loop_stall_ms=round(float(loop["stall_ms"]), 1),
        loop_busy_ms=round(float(loop["busy_ms"]), 1),
        gc_ms=round(float(loop["gc_ms"]), 1),
        gap_ms=round(stats.worst_gap_s * 1000, 1),
        headroom_ms=round(stats.min_headroom_s * 1000, 1) if stats.sessions else float("nan"),
        starved=stats.starved,
        normal_sessions=stats.sessions,
        refused=stats.refused,
        health_ms=round(worst_health * 1000, 1),
        sessions_left=sessions,
        slots_left=slots,
        errors_logged=errors,
        outcome=outcome,
    )
    return row, log_offset


async def run_all(target: Target, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    offset = 0
    _, offset = count_errors(target.log_path, 0)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as attacker:
        await asyncio.get_running_loop().run_in_executor(attacker, time.sleep, 0)  # started
        for name in ["baseline", *args.attacks]:
            pool = None if name == "baseline" else attacker
            row, offset = await run_attack(name, pool, target, args, offset)
            rows.append(row)
            if not args.json:
                print_row(row)
    return rows


_LAYOUT = (
    "attack:19 loop_stall_ms:13 loop_busy_ms:12 gc_ms:6 gap_ms:8 headroom_ms:11 starved:7 "
    "refused:7 health_ms:9 sessions_left:13 slots_left:10 errors_logged:13"
)
COLUMNS = [(name, int(width)) for name, width in (cell.split(":") for cell in _LAYOUT.split())]
"""The table's columns (Row fields) and their widths."""


def print_header() -> None:
    print("  ".join(f"{name:>{width}}" for name, width in COLUMNS) + "  outcome")


def print_row(row: Row) -> None:
    values = asdict(row)
    cells = [f"{values[name]!s:>{width}}" for name, width in COLUMNS]
    print("  ".join(cells) + f"  {row.outcome}", flush=True)


def goal_met(rows: list[Row]) -> bool:
    """Every attack: loop stall within the goal, no normal session starved, nothing left."""
    return all(
        row.loop_stall_ms <= STALL_GOAL_MS
        and row.starved == 0
        and row.sessions_left == 0
        and row.slots_left == 0
        for row in rows
    )


def layout_cpus(layout: str) -> tuple[set[int] | None, set[int] | None]:
    """(the service's cores, llama-server's cores) of `layout`; None: unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if layout == "shared" or len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def start_child(
    args: argparse.Namespace, llama_url: str, snac_dir: Path, log_path: Path
) -> tuple[subprocess.Popen[bytes], int]:
    command = [
        sys.executable,
        "-m",
        "bench.hostile_service",
        "--llama-url",
        llama_url,
        "--snac-dir",
        str(snac_dir),
        "--max-sessions",
        str(args.max_sessions),
        "--idle-timeout",
        str(args.idle_timeout),
        "--ws",
        args.ws,
        "--per-client",
        str(args.per_client),
    ]
    log = log_path.open("wb")
    service_cpus, _ = layout_cpus(args.layout)
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=ROOT,
        preexec_fn=None if service_cpus is None else lambda: os.sched_setaffinity(0, service_cpus),
    )
    assert child.stdout is not None
    line = child.stdout.readline().decode().strip()
    if not line.startswith("PORT "):
        child.kill()
        raise RuntimeError(f"the service did not start; see {log_path}")
    return child, int(line.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--normal",
        type=int,
        default=2,
        help="normal sessions streaming (2: what one core of llama-server here serves with margin)",
    )
    parser.add_argument("--max-sessions", type=int, default=8, help="ORPHEUS_MAX_SESSIONS")
    parser.add_argument("--idle-timeout", type=float, default=2.0, help="session idle limit (s)")
    parser.add_argument(
        "--warmup", type=float, default=1.5, help="normal load before an attack (s)"
    )
    parser.add_argument("--after", type=float, default=1.0, help="normal load after an attack (s)")
    parser.add_argument(
        "--attack-timeout", type=float, default=60.0, help="bound on one attack (s)"
    )
    parser.add_argument("--attacks", nargs="*", default=list(ATTACKS), choices=list(ATTACKS))
    parser.add_argument(
        "--ws",
        default=OrpheusSettings.model_fields["ws_implementation"].default,
        choices=list(WS_IMPLEMENTATIONS),
        help="ORPHEUS_WS_IMPLEMENTATION (default: the service's default)",
    )
    parser.add_argument(
        "--per-client",
        type=int,
        default=1,
        help="ORPHEUS_MAX_SESSIONS_PER_CLIENT (0: unset, one client may take every channel)",
    )
    parser.add_argument(
        "--attacker-nice",
        type=int,
        default=19,
        help="the attacker process's niceness (19, as if remote: it gets only idle cores)",
    )
    parser.add_argument(
        "--layout",
        choices=["split", "shared"],
        default="split",
        help="split (as deployed: llama-server on the last core, the service on the "
        "others); shared: every process on every core",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from orpheus_service.llama.server import find_llama_server_binary
    from tests.support.llama import ORPHEUS_USER_DEFINED, LlamaServers, model_cache_dir
    from tests.support.snac_models import SMALL_SNAC_CONFIG, save_random_snac

    servers = LlamaServers(find_llama_server_binary(), model_cache_dir())
    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    child: subprocess.Popen[bytes] | None = None
    try:
        llama = servers.get(
            ORPHEUS_USER_DEFINED, parallel=args.max_sessions, ctx_size=args.max_sessions * 2048
        )
        _, llama_cpus = layout_cpus(args.layout)
        if llama_cpus is not None and llama.process is not None:
            pin_process(llama.process.pid, llama_cpus)
        snac_dir = save_random_snac(SMALL_SNAC_CONFIG, work / "snac")
        log_path = work / "service.log"
        child, port = start_child(args, llama.base_url, snac_dir, log_path)
        target = Target(
            http=f"http://127.0.0.1:{port}",
            ws=f"ws://127.0.0.1:{port}",
            llama_url=llama.base_url,
            log_path=log_path,
            max_sessions=args.max_sessions,
            idle_timeout_s=args.idle_timeout,
        )
        service_cpus, llama_cpus = layout_cpus(args.layout)
        if not args.json:
            print(
                f"normal sessions {args.normal}, max sessions {args.max_sessions}, "
                f"idle timeout {args.idle_timeout} s, uvicorn ws {args.ws}, "
                f"per client {args.per_client or 'unset'}, attacker nice {args.attacker_nice}, "
                f"layout {args.layout} (service cpus {service_cpus or 'all'}, "
                f"llama-server cpus {llama_cpus or 'all'}), cpus {os.cpu_count()}"
            )
            print_header()
        rows = asyncio.run(run_all(target, args))
    finally:
        if child is not None:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(15)
            if child.poll() is None:
                child.kill()
        servers.stop_all()
    met = goal_met(rows)
    if args.json:
        report = {
            "normal": args.normal,
            "max_sessions": args.max_sessions,
            "idle_timeout_s": args.idle_timeout,
            "ws": args.ws,
            "per_client": args.per_client,
            "attacker_nice": args.attacker_nice,
            "layout": args.layout,
            "goal_met": met,
            "rows": [asdict(row) for row in rows],
        }
        print(json.dumps(report))
    else:
        verdict = "met" if met else "NOT met"
        print(f"goal (stall <= {STALL_GOAL_MS:g} ms, none starved, nothing left): {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
