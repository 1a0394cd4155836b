"""Concurrent WebSocket sessions: time to first audio and throughput, batching on and off.

N sessions (1, 4, 16) open unmute's socket (/api/tts_streaming) at the same time,
each sends two sentences and Eos, and reads until the server closes. Per
configuration and round:

- ttfa: from a session sending its text to its first Audio message (p50 and p95
  over every session of every round);
- audio_s_per_s: seconds of audio the sessions received, together, per wall
  second from the first text sent to the last close (median over rounds);
- mean_batch: decode requests per batched SNAC call (scheduler counters).

Batching on: the scheduler collects the sessions' pending SNAC work (3 ms window)
into one batched call of up to `--max-batch` requests; off: every request runs
alone, most urgent first, in the same worker thread. Setup: llama-server with the
tiny orpheus-like GGUF of the tests (`-t 1`, one slot per session), SNAC 24 kHz
architecture with random weights.

    .venv/bin/python -m bench.concurrency [--sessions 1 4 16] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import websockets

from orpheus_service.api.app import create_app
from orpheus_service.api.wiring import deps_factory
from orpheus_service.llama.server import find_llama_server_binary
from tests.support.llama import ORPHEUS_USER_DEFINED, LlamaServers, model_cache_dir
from tests.support.service_support import (
    ServerThread,
    pack,
    service_settings,
    unpack,
)
from tests.support.snac_models import SNAC_24KHZ_CONFIG, save_random_snac
from unmute.tts.protocol import SAMPLE_RATE

TEXT = "Hello there, how are you doing today? I hope the weather is nice where you are."


async def session(ws_url: str) -> tuple[float, float]:
    """(time to first audio, seconds of audio) of one session."""
    async with websockets.connect(
        f"{ws_url}/api/tts_streaming?format=PcmMessagePack&voice=tara", max_size=None
    ) as ws:
        await ws.recv()  # Ready
        t0 = time.perf_counter()
        await ws.send(pack({"type": "Text", "text": TEXT}))
        await ws.send(pack({"type": "Eos"}))
        ttfa = float("nan")
        samples = 0
        async for raw in ws:
            message = unpack(raw)
            if message["type"] == "Audio":
                if samples == 0:
                    ttfa = time.perf_counter() - t0
                samples += len(message["pcm"])
            elif message["type"] == "Error":
                raise RuntimeError(message["message"])
        return ttfa, samples / SAMPLE_RATE


async def round_of(ws_url: str, sessions: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    results = await asyncio.gather(*(session(ws_url) for _ in range(sessions)))
    wall = time.perf_counter() - started
    return [r[0] for r in results], sum(r[1] for r in results) / wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    torch.set_num_threads(args.threads)
    top = max(args.sessions)
    servers = LlamaServers(find_llama_server_binary(), model_cache_dir())
    llama = servers.get(ORPHEUS_USER_DEFINED, parallel=top, ctx_size=top * 2048)
    snac_dir = save_random_snac(SNAC_24KHZ_CONFIG, Path(tempfile.mkdtemp(prefix="snac-24k-")))
    settings = service_settings(
        llama_endpoint=llama.base_url,
        snac_model=str(snac_dir),
        snac_device="cpu",
        max_sessions=top,
    )
    rows: list[dict[str, Any]] = []
    try:
        for batching in (True, False):
            factory = deps_factory(batching=batching, max_batch=args.max_batch)
            server = ServerThread(create_app(settings, factory)).start()
            scheduler = server.app.state.deps.scheduler
            try:
                asyncio.run(round_of(server.ws, 1))  # warm-up
                for sessions in args.sessions:
                    before = (scheduler.stats.batches, scheduler.stats.requests)
                    ttfas: list[float] = []
                    rates: list[float] = []
                    for _ in range(args.rounds):
                        ttfa, rate = asyncio.run(round_of(server.ws, sessions))
                        ttfas += ttfa
                        rates.append(rate)
                    batches = scheduler.stats.batches - before[0]
                    requests = scheduler.stats.requests - before[1]
                    rows.append(
                        {
                            "sessions": sessions,
                            "batching": batching,
                            "ttfa_p50_ms": round(1000 * percentile(ttfas, 0.5), 1),
                            "ttfa_p95_ms": round(1000 * percentile(ttfas, 0.95), 1),
                            "audio_s_per_s": round(statistics.median(rates), 2),
                            "mean_batch": round(requests / batches, 2) if batches else 0.0,
                        }
                    )
            finally:
                server.stop()
    finally:
        servers.stop_all()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (SNAC)")
    parser.add_argument(
        "--max-batch",
        type=int,
        default=16,
        help="requests per batched call when batching is on (the service's CPU default is 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows = run(args)
    if args.json:
        print(
            json.dumps(
                {
                    "results": rows,
                    "rounds": args.rounds,
                    "torch_threads": args.threads,
                    "max_batch": args.max_batch,
                }
            )
        )
        return
    print(
        f"concurrent sessions on /api/tts_streaming, {args.rounds} rounds each, "
        f"torch threads {args.threads}"
    )
    print(
        f"{'sessions':>8} {'batching':>8} {'ttfa_p50_ms':>12} {'ttfa_p95_ms':>12} "
        f"{'audio_s_per_s':>14} {'mean_batch':>11}"
    )
    for row in rows:
        print(
            f"{row['sessions']:>8} {'on' if row['batching'] else 'off':>8} "
            f"{row['ttfa_p50_ms']:>12.1f} {row['ttfa_p95_ms']:>12.1f} "
            f"{row['audio_s_per_s']:>14.2f} {row['mean_batch']:>11.2f}"
        )


if __name__ == "__main__":
    main()
