"""The service process of bench/hostile.py: the app under uvicorn, with a loop monitor.

Runs `create_app` with the real wiring (llama client, batching scheduler, SNAC from
`--snac-dir`) as `unmute-tts serve` does, on 127.0.0.1 and a free port, which it
prints as `PORT n` on stdout. A task sleeps 2 ms at a time and keeps the worst
lateness of its wake-ups (the event loop's worst stall, wall clock: it includes
time the machine gave to other processes) and the most CPU time the loop's thread
used between two wake-ups (`busy`: the longest the loop itself was kept busy, which
other processes cannot inflate). `GET /__bench/probe` (answered before the app,
never by it) returns both since the last `?reset=1`, and the session count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from typing import Any

import uvicorn

from orpheus_service.api.app import create_app
from orpheus_service.api.wiring import deps_factory
from orpheus_service.serving import WS_IMPLEMENTATIONS, uvicorn_options
from orpheus_service.settings import OrpheusSettings

TICK_S = 0.002
PROBE_PATH = "/__bench/probe"


class Probe:
    """ASGI wrapper answering PROBE_PATH; everything else goes to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.worst_s = 0.0
        self.busy_s = 0.0
        self.gc_s = 0.0
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Keep the longest garbage collection (any thread)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_s = max(self.gc_s, time.perf_counter() - self._gc_started)

    async def monitor(self) -> None:
        """Record the worst lateness of a TICK_S sleep, forever."""
        while True:
            before = time.perf_counter()
            cpu = time.thread_time()
            await asyncio.sleep(TICK_S)
            self.worst_s = max(self.worst_s, time.perf_counter() - before - TICK_S)
            self.busy_s = max(self.busy_s, time.thread_time() - cpu)

    def _state(self) -> dict[str, Any]:
        ctx: Any = getattr(self.app.state, "orpheus", None)
        sessions = len(ctx.sessions) if ctx is not None else -1
        stall = {
            "stall_ms": self.worst_s * 1000,
            "busy_ms": self.busy_s * 1000,
            "gc_ms": self.gc_s * 1000,
        }
        return {**stall, "sessions": sessions}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PROBE_PATH:
            body = json.dumps(self._state()).encode()
            if b"reset=1" in scope.get("query_string", b""):
                self.worst_s = self.busy_s = self.gc_s = 0.0
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


async def serve(args: argparse.Namespace) -> None:
    settings = OrpheusSettings(
        _env_file=None,  # pyright: ignore[reportCallIssue]
        llama_endpoint=args.llama_url,
        snac_model=args.snac_dir,
        snac_device="cpu",
        api_key=None,
        max_sessions=args.max_sessions,
        max_sessions_per_client=args.per_client or None,
        session_idle_timeout_s=args.idle_timeout,
        ws_implementation=args.ws,
    )
    probe = Probe(create_app(settings, deps_factory(noise=False, torch_threads=1)))
    config = uvicorn.Config(
        probe,
        host="127.0.0.1",
        port=0,
        log_level="info",
        lifespan="on",
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    monitor = asyncio.create_task(probe.monitor())
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    os.dup2(2, 1)  # the rest (uvicorn's access log) to the log: nobody reads the pipe
    await serving
    monitor.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-url", required=True)
    parser.add_argument("--snac-dir", required=True)
    parser.add_argument("--max-sessions", type=int, default=8)
    parser.add_argument("--idle-timeout", type=float, default=2.0)
    parser.add_argument("--per-client", type=int, default=0, help="0: no per-client limit")
    parser.add_argument("--ws", required=True, choices=list(WS_IMPLEMENTATIONS))
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
