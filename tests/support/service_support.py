"""Helpers for the service tests: a uvicorn server in a thread, a fake engine."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Coroutine
from typing import Any, Self, TypeVar

import numpy as np
import uvicorn
from fastapi import FastAPI

from orpheus_service.engine.events import (
    AudioChunk,
    EngineEvent,
    EngineStats,
    SegmentDone,
    WordTiming,
)
from orpheus_service.engine.tokens import TokenStats
from orpheus_service.serving import uvicorn_options
from orpheus_service.settings import OrpheusSettings
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.voices import check_voice
from unmute.tts.protocol import SAMPLE_RATE, decode_frame, encode_frame

T = TypeVar("T")


pack = encode_frame
"""A msgpack frame of unmute's protocol (`unmute.tts.protocol.encode_frame`)."""
unpack = decode_frame
"""A msgpack frame as a dict (`unmute.tts.protocol.decode_frame`)."""


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1 (free port) in its own thread and loop,
    with the uvicorn options of the app's settings (as `unmute-tts serve` does)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        settings: OrpheusSettings = getattr(app.state, "settings", None) or service_settings()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            **uvicorn_options(settings),
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        sock: socket.socket = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run `coro` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def task_names(self) -> list[str]:
        """Names of the tasks alive on the server's loop (the caller's probe excluded)."""

        async def names() -> list[str]:
            me = asyncio.current_task()
            return sorted(t.get_name() for t in asyncio.all_tasks() if t is not me)

        return self.call(names())

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def tone(
    samples: int, freq: float = 220.0, start: int = 0
) -> np.ndarray[Any, np.dtype[np.float32]]:
    t = (np.arange(samples) + start) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FakeSynthesis:
    """Speaks each word as `chunks_per_word` chunks of 2048 samples of a tone."""

    def __init__(self, engine: FakeEngine, text: str | AsyncIterable[str], voice: str) -> None:
        self.engine = engine
        self.voice = voice
        self.stats = EngineStats()
        self._text = text
        self._gen = self._run()
        self.closed = False
        self.sampling: SamplingOverrides | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EngineEvent:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        self.closed = True
        await self._gen.aclose()

    async def _words(self) -> AsyncIterator[str]:
        if isinstance(self._text, str):
            for word in self._text.split():
                yield word
        else:
            async for delta in self._text:
                for word in delta.split():
                    yield word

    async def _run(self) -> AsyncGenerator[EngineEvent]:
        engine = self.engine
        engine.started += 1
        try:
            produced = 0
            index = 0
            async for word in self._words():
                if engine.fail_after_words is not None and index >= engine.fail_after_words:
                    raise engine.error
                start = produced / SAMPLE_RATE
                n = 2048 * engine.chunks_per_word
                yield WordTiming(word, start, start + n / SAMPLE_RATE, 0)
                for _ in range(engine.chunks_per_word):
                    await asyncio.sleep(engine.chunk_delay_s)
                    pcm = tone(2048, start=produced)
                    self.stats.audio_s += 2048 / SAMPLE_RATE
                    yield AudioChunk(pcm, produced / SAMPLE_RATE, 0)
                    produced += 2048
                index += 1
            if engine.fail_after_words is not None and index <= engine.fail_after_words:
                raise engine.error
            yield SegmentDone(0, "", 0.0, produced / SAMPLE_RATE, TokenStats(), False)
            engine.finished += 1
        except (asyncio.CancelledError, GeneratorExit):
            engine.cancelled += 1
            raise


class FakeEngine:
    """A SpeechEngine stand-in with knobs for delays and failures."""

    def __init__(
        self,
        *,
        chunk_delay_s: float = 0.0,
        chunks_per_word: int = 2,
        fail_after_words: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.chunk_delay_s = chunk_delay_s
        self.chunks_per_word = chunks_per_word
        self.fail_after_words = fail_after_words
        self.error = error or RuntimeError("fake failure")
        self.started = 0
        self.finished = 0
        self.cancelled = 0
        self.syntheses: list[FakeSynthesis] = []

    def synthesize(
        self,
        text: str | AsyncIterable[str],
        *,
        voice: str | None = None,
        sampling: SamplingOverrides | None = None,
    ) -> FakeSynthesis:
        synthesis = FakeSynthesis(self, text, check_voice(voice or "tara"))
        synthesis.sampling = sampling
        self.syntheses.append(synthesis)
        return synthesis


async def llama_ok() -> str | None:
    return None


def service_settings(**overrides: Any) -> OrpheusSettings:
    """OrpheusSettings for a test: no .env file; `overrides` win over the environment."""
    return OrpheusSettings(_env_file=None, **overrides)  # pyright: ignore[reportCallIssue]


def start_fake_service(engine: FakeEngine | None = None, **settings: Any) -> ServerThread:
    """The real app on a FakeEngine, served by uvicorn in a thread."""
    from orpheus_service.api.app import ServiceDeps, create_app

    app = create_app(
        service_settings(**settings),
        ServiceDeps(engine=engine or FakeEngine(), check_llama=llama_ok),
    )
    return ServerThread(app).start()


RealService = Callable[..., ServerThread]
"""The `real_service` fixture: `(llama_url, *, snac_dir=None, batching=True, **settings)`."""
