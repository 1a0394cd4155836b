"""Helpers for tests against a real llama-server: tiny models, servers, fake servers.

The fixtures in `tests/support/llama_fixtures.py` build on these.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orpheus_service.llama.client import LlamaClient
from orpheus_service.llama.server import LlamaServerConfig, LlamaServerProcess
from tests.support import tiny_gguf
from tests.support.tiny_gguf import CustomTokenType, write_tiny_gguf

ORPHEUS_FRAMES = 12
"""Frames the `orpheus_*` tiny models speak before end_of_speech."""
SERVER_PARALLEL = 4
SERVER_CTX_PER_SLOT = 4096


@dataclass(frozen=True)
class TinyModel:
    """A tiny GGUF recipe (see `tests.support.tiny_gguf.write_tiny_gguf`)."""

    name: str
    flavour: str = "orpheus_like"
    custom_type: CustomTokenType = CustomTokenType.USER_DEFINED
    frames_before_end: int | None = ORPHEUS_FRAMES
    drop_every: int | None = None

    def write(self, directory: Path) -> Path:
        """Write the GGUF into `directory` (once) and return its path."""
        path = directory / f"{self.name}.gguf"
        if not path.exists():
            partial = path.with_suffix(f".{os.getpid()}.partial")
            write_tiny_gguf(
                partial,
                flavour=self.flavour,
                custom_type=self.custom_type,
                frames_before_end=self.frames_before_end if self.flavour != "random" else None,
                drop_every=self.drop_every,
                context_length=SERVER_CTX_PER_SLOT,
            )
            partial.rename(path)
        return path


ORPHEUS_USER_DEFINED = TinyModel("orpheus-user-defined")
"""Custom tokens typed USER_DEFINED: streamed as `<custom_token_N>` text and ids."""
ORPHEUS_CONTROL = TinyModel("orpheus-control", custom_type=CustomTokenType.CONTROL)
"""Custom tokens typed CONTROL: streamed as empty text, ids only."""
ORPHEUS_DROPS = TinyModel("orpheus-drops", frames_before_end=None, drop_every=3)
"""Never ends by itself; frames 2, 5, 8, ... are spoiled (dropped by the parser)."""
RANDOM = TinyModel("random", flavour="random", custom_type=CustomTokenType.CONTROL)
"""Random weights: babbles over the whole vocabulary, mostly non-audio tokens."""


def model_cache_dir() -> Path:
    """Where tiny GGUFs are kept between test runs (keyed by the generator's source)."""
    source = Path(tiny_gguf.__file__).read_bytes() + Path(__file__).read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    directory = Path(tempfile.gettempdir()) / f"unmute-tiny-gguf-{digest}"
    directory.mkdir(exist_ok=True)
    return directory


def tiny_server_config(model_path: Path, **overrides: object) -> LlamaServerConfig:
    """The test server setup: 127.0.0.1, free port, 1 thread, 4 slots, no warmup."""
    options: dict[str, object] = {
        "model_path": str(model_path),
        "host": "127.0.0.1",
        "port": 0,
        "threads": 1,
        "parallel": SERVER_PARALLEL,
        "ctx_size": SERVER_PARALLEL * SERVER_CTX_PER_SLOT,
        "warmup": False,
    }
    return LlamaServerConfig.model_validate(options | overrides)


@dataclass
class LlamaServers:
    """Starts llama-servers on demand, one per (model, options); stops them all at the end."""

    binary: Path
    model_dir: Path
    running: dict[str, LlamaServerProcess] = field(default_factory=dict[str, LlamaServerProcess])

    def get(self, model: TinyModel, **overrides: object) -> LlamaServerProcess:
        """The running server for `model` (started on first use)."""
        key = f"{model.name}:{sorted(overrides.items())}"
        server = self.running.get(key)
        if server is None or server.process_exited:
            config = tiny_server_config(model.write(self.model_dir), **overrides)
            server = LlamaServerProcess(config, binary=self.binary, startup_timeout_s=30.0)
            server.start()
            self.running[key] = server
        return server

    def stop_all(self) -> None:
        """Stop every server started here."""
        for server in self.running.values():
            server.stop()
        self.running.clear()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.01
) -> float:
    """Poll `condition` until it is true; return the seconds it took; raise on timeout."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"condition still false after {timeout_s} s")
        await asyncio.sleep(interval_s)
    return time.monotonic() - start


async def wait_slots_idle(client: LlamaClient, timeout_s: float = 2.0) -> float:
    """Wait until no llama-server slot is processing (per `GET /slots`); return the wait."""

    async def idle() -> bool:
        return await client.processing_slots() == 0

    return await wait_until(idle, timeout_s)


@asynccontextmanager
async def fake_http_server(reply: bytes | None, *, close: bool = True) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1:0 that reads a request and sends `reply` raw.

    `reply=None` never answers (a stall); `close=False` sends `reply` and then
    stalls. Yields the base URL.
    """
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        if close and reply is not None:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def sse_reply(
    *events: str,
    status: str = "200 OK",
    content_type: str = "text/event-stream",
    complete: bool = True,
) -> bytes:
    """A raw HTTP/1.1 response whose body is `events` as `data:` lines.

    `complete=False` leaves the body unfinished (chunked, no last chunk), for a
    server that stalls or dies mid-stream.
    """
    body = "".join(f"data: {event}\n\n" for event in events).encode()
    if not complete:
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b""
        return head.encode() + chunk
    return http_reply(body, status=status, content_type=content_type)


def http_reply(
    body: bytes, *, status: str = "200 OK", content_type: str = "application/json"
) -> bytes:
    """A raw, complete HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
