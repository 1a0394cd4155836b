"""Time to first audio added by the service's plumbing.

For each run, one utterance goes through the whole service (uvicorn, the app,
the engine, the batching scheduler, SNAC) against a real llama-server:

- ttfa_ms: from the client sending the text to the first audio reaching the
  client (WebSocket /api/tts_streaming, or POST /v1/audio/speech/stream);
- lm_ms: from the same instant to the arrival, in the service, of the last
  llama token that the first audio needs (the first frames whose audio the
  decoder can emit: 3 frames for SNAC 24 kHz), taken from the same stream;
- decode_ms: SNAC compute of that first chunk (those frames, fresh decoder
  state, one call), measured alone in the same run right after it;
- overhead_ms = ttfa_ms - lm_ms - decode_ms, per run; the table shows medians.

For the breakdown, the table also shows `in_service_ms`: how long the batched call
that produced the first audio ran inside the service (the same frames as
decode_ms, while llama-server goes on generating: on the same cores with
--no-isolate, on its own CPU otherwise), and
`plumbing_ms` = overhead_ms - (in_service_ms - decode_ms): the time spent
outside SNAC (parsing, queues, scheduler hop, encoding, sending).

Setup: llama-server with the tiny orpheus-like GGUF of the tests (`-t 1`), SNAC
24 kHz architecture with random weights, torch threads as given, and
ORPHEUS_FIRST_AUDIO_MIN_S 0 (`--first-audio-min-s`): the first audio is the first
chunk SNAC can emit, the one lm_ms times; with the service's default (0.15 s) the
first audio also waits for the frames after it. Goal: overhead_ms <= 15.

Core isolation (default when the machine has >= 2 CPUs): in production llama-server
runs on its own machine, so here every thread of llama-server is pinned to one CPU
and every thread of this process (event loop, SNAC worker, torch, the benchmark's
client, and the alone measurement of decode_ms) to the other CPUs, with
os.sched_setaffinity. `--no-isolate` leaves both on all CPUs (the old shared-core
numbers).

    .venv/bin/python -m bench.service_overhead [--runs 20] [--threads 1] [--no-isolate] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch
import websockets

from bench.cpus import pin_process
from orpheus_service.api.app import create_app
from orpheus_service.api.wiring import deps_factory
from orpheus_service.engine.tokens import OrpheusTokenParser
from orpheus_service.llama.server import find_llama_server_binary
from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.token_source import TokenSource
from orpheus_service.vocabulary.tokens import AUDIO_TOKEN_BASE, AUDIO_TOKEN_END, Frame
from tests.support.llama import ORPHEUS_USER_DEFINED, LlamaServers, model_cache_dir
from tests.support.service_support import (
    ServerThread,
    pack,
    service_settings,
    unpack,
)
from tests.support.snac_models import SNAC_24KHZ_CONFIG, save_random_snac

TEXT = "Hello there, how are you doing today?"


@dataclass
class TimedBackend:
    """Wraps the scheduler's backend; keeps the duration of the first batch with audio."""

    inner: Any
    first_audio_s: float | None = None

    def new_stream(self) -> Any:
        return self.inner.new_stream()

    def run_batch(self, requests: Any) -> Any:
        start = time.perf_counter()
        results = self.inner.run_batch(requests)
        if self.first_audio_s is None and any(r is not None for r in results):
            self.first_audio_s = time.perf_counter() - start
        return results


@dataclass
class TokenRecorder:
    """Wraps the engine's token source; keeps (time, id) of the audio tokens of a run."""

    audio: list[tuple[float, int]] = field(default_factory=list[tuple[float, int]])

    def wrap(self, source: TokenSource) -> TokenSource:
        def recorded(
            prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
        ) -> AsyncIterator[int]:
            return self._record(source(prompt, sampling=sampling))

        return recorded

    async def _record(self, tokens: AsyncIterator[int]) -> AsyncIterator[int]:
        try:
            async for token in tokens:
                if AUDIO_TOKEN_BASE <= token < AUDIO_TOKEN_END:
                    self.audio.append((time.perf_counter(), token))
                yield token
        finally:
            aclose = getattr(tokens, "aclose", None)
            if aclose is not None:
                await aclose()


def first_frames(recorder: TokenRecorder, count: int) -> tuple[float, list[Frame]]:
    """Arrival time of the last token of the first `count` frames, and the frames."""
    parser = OrpheusTokenParser()
    frames: list[Frame] = []
    for arrived, token in recorder.audio:
        frame = parser.feed_one(token)
        if frame is not None:
            frames.append(frame)
            if len(frames) == count:
                return arrived, frames
    raise RuntimeError(f"the run produced fewer than {count} frames")


async def ws_first_audio(server: ServerThread) -> tuple[float, float]:
    """(t0, t1): text sent, first audio received; reads the stream to its end."""
    async with websockets.connect(
        f"{server.ws}/api/tts_streaming?format=PcmMessagePack&voice=tara"
    ) as ws:
        await ws.recv()  # Ready
        t0 = time.perf_counter()
        await ws.send(pack({"type": "Text", "text": TEXT}))
        await ws.send(pack({"type": "Eos"}))
        t1 = 0.0
        async for raw in ws:
            if t1 == 0.0 and unpack(raw)["type"] == "Audio":
                t1 = time.perf_counter()
        return t0, t1


def http_first_audio(client: httpx.Client, server: ServerThread) -> tuple[float, float]:
    t0 = time.perf_counter()
    with client.stream(
        "POST", f"{server.http}/v1/audio/speech/stream", json={"input": TEXT, "voice": "tara"}
    ) as r:
        chunks = r.iter_raw()
        next(chunks)
        t1 = time.perf_counter()
        for _ in chunks:
            pass
    return t0, t1


def plumbing(runs: dict[str, list[float]]) -> list[float]:
    """Per run: the overhead not explained by SNAC running slower inside the service."""
    triples = zip(runs["over"], runs["inside"], runs["decode"], strict=True)
    return [over - (inside - alone) for over, inside, alone in triples]


def isolate(llama_pid: int, cpus: tuple[set[int], set[int]]) -> None:
    """Pin llama-server to `cpus[0]` and every thread of this process to `cpus[1]`."""
    pin_process(llama_pid, cpus[0])
    pin_process(os.getpid(), cpus[1])


def check_pinned(pid: int, cpus: set[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            actual = os.sched_getaffinity(int(task.name))
        except ProcessLookupError:
            continue
        if actual != cpus:
            raise RuntimeError(f"thread {task.name} of {pid} runs on {actual}, not {cpus}")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    servers = LlamaServers(find_llama_server_binary(), model_cache_dir())
    llama = servers.get(ORPHEUS_USER_DEFINED)
    llama_pid = llama.process.pid if llama.process is not None else None
    pinned: tuple[set[int], set[int]] | None = None
    if args.isolate:
        if llama_pid is None or len(os.sched_getaffinity(0)) < 2:
            raise RuntimeError("--isolate needs >= 2 CPUs and a running llama-server")
        cpus = sorted(os.sched_getaffinity(0))
        pinned = ({cpus[0]}, set(cpus[1:]))  # (llama-server, service)
        isolate(llama_pid, pinned)
    snac_dir = save_random_snac(SNAC_24KHZ_CONFIG, Path(tempfile.mkdtemp(prefix="snac-24k-")))
    recorder = TokenRecorder()
    settings = service_settings(
        llama_endpoint=llama.base_url,
        snac_model=str(snac_dir),
        snac_device="cpu",
        first_audio_min_s=args.first_audio_min_s,
        word_hold_s=args.word_hold_s,
    )
    server = ServerThread(create_app(settings, deps_factory(wrap_token_source=recorder.wrap)))
    server.start()
    if pinned is not None:  # threads started since (uvicorn, torch) inherit; make sure
        isolate(llama_pid or 0, pinned)
    scheduler = server.app.state.deps.scheduler
    decoder = scheduler.backend.decoder
    timed = TimedBackend(scheduler.backend)
    scheduler.backend = timed
    needed = decoder.delay // decoder.samples_per_frame + 1  # frames for the first audio
    rows: dict[str, dict[str, list[float]]] = {}
    try:
        with httpx.Client(timeout=30) as client:
            for endpoint in ("websocket", "http"):
                keys = ("ttfa", "lm", "decode", "over", "inside")
                runs: dict[str, list[float]] = {k: [] for k in keys}
                for i in range(args.runs + args.warmup):
                    recorder.audio.clear()
                    timed.first_audio_s = None
                    if endpoint == "websocket":
                        t0, t1 = asyncio.run(ws_first_audio(server))
                    else:
                        t0, t1 = http_first_audio(client, server)
                    arrived, frames = first_frames(recorder, needed)
                    alone: list[float] = []
                    for _ in range(3):
                        state = decoder.new_state()
                        start = time.perf_counter()
                        decoder.step_many([state], [frames])
                        alone.append(time.perf_counter() - start)
                    if i < args.warmup:
                        continue
                    ttfa, lm, dec = t1 - t0, arrived - t0, statistics.median(alone)
                    inside = timed.first_audio_s or 0.0
                    for key, value in (
                        ("ttfa", ttfa),
                        ("lm", lm),
                        ("decode", dec),
                        ("over", ttfa - lm - dec),
                        ("inside", inside),
                    ):
                        runs[key].append(value * 1000)
                rows[endpoint] = runs
        if pinned is not None:  # every thread, including the SNAC worker, stayed pinned
            check_pinned(llama_pid or 0, pinned[0])
            check_pinned(os.getpid(), pinned[1])
    finally:
        server.stop()
        servers.stop_all()
    results = [
        {
            "endpoint": endpoint,
            "ttfa_ms": round(statistics.median(r["ttfa"]), 2),
            "lm_ms": round(statistics.median(r["lm"]), 2),
            "decode_ms": round(statistics.median(r["decode"]), 2),
            "overhead_ms": round(statistics.median(r["over"]), 2),
            "overhead_p90_ms": round(sorted(r["over"])[int(0.9 * (len(r["over"]) - 1))], 2),
            "in_service_ms": round(statistics.median(r["inside"]), 2),
            "plumbing_ms": round(statistics.median(plumbing(r)), 2),
        }
        for endpoint, r in rows.items()
    ]
    main = results[0]
    return {
        **{k: main[k] for k in ("ttfa_ms", "lm_ms", "decode_ms", "overhead_ms")},
        "isolated_cores": pinned is not None,
        "llama_cpus": sorted(pinned[0]) if pinned else None,
        "service_cpus": sorted(pinned[1]) if pinned else None,
        "endpoints": results,
        "runs": args.runs,
        "torch_threads": args.threads,
        "first_chunk_frames": needed,
        "first_audio_min_s": args.first_audio_min_s,
        "word_hold_s": args.word_hold_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (SNAC)")
    parser.add_argument(
        "--first-audio-min-s",
        type=float,
        default=0.0,
        help="ORPHEUS_FIRST_AUDIO_MIN_S (default 0: the first SNAC chunk, whose frames "
        "lm_ms times; the service's default, 0.15, waits for two frames more)",
    )
    parser.add_argument(
        "--word-hold-s",
        type=float,
        default=0.0,
        help="ORPHEUS_WORD_HOLD_S (default 0, the service's: audio never waits for word "
        "times; 0.5 holds it until the aligner has timed the words starting in it)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="Python's GIL switch interval in seconds (default: left as the service sets it)",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=len(os.sched_getaffinity(0)) >= 2,
        help="pin llama-server to one CPU and the service to the others "
        "(default: on with >= 2 CPUs; --no-isolate shares all CPUs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"service overhead: median of {args.runs} runs, first chunk = "
        f"{result['first_chunk_frames']} frames, torch threads {args.threads}, "
        + (
            f"isolated cores (llama-server on CPU {result['llama_cpus']}, "
            f"service on CPU {result['service_cpus']})"
            if result["isolated_cores"]
            else "shared cores"
        )
    )
    print(
        f"{'endpoint':<10} {'ttfa_ms':>8} {'lm_ms':>8} {'decode_ms':>10} {'overhead_ms':>12} "
        f"{'p90':>7} {'in_service_ms':>14} {'plumbing_ms':>12}"
    )
    for row in result["endpoints"]:
        print(
            f"{row['endpoint']:<10} {row['ttfa_ms']:>8.1f} {row['lm_ms']:>8.1f} "
            f"{row['decode_ms']:>10.1f} {row['overhead_ms']:>12.1f} "
            f"{row['overhead_p90_ms']:>7.1f} {row['in_service_ms']:>14.1f} "
            f"{row['plumbing_ms']:>12.1f}"
        )


if __name__ == "__main__":
    main()
