"""The real dependencies of the service: llama-server client, SNAC, scheduler, engine.

`build_deps(settings, metrics)` is the default `DepsFactory` of `create_app`:

- SNAC is loaded (folder or hub id, `ORPHEUS_SNAC_MODEL`) in a worker thread and
  warmed up with one short decode, so the first request does not pay for it;
- all sessions' SNAC work goes through one `DecodeScheduler` (batching on unless
  `batching=False`);
- the interpreter's GIL switch interval is lowered (0.2 ms): SNAC's streaming graph
  runs many small torch ops in the decode thread, each of which takes the GIL
  back from the event loop; at Python's default 5 ms the decode thread queues for
  the GIL at every op and the first chunk waits far longer than it computes;
- what is alive once SNAC is loaded (torch, the weights, every module: most of the
  process's objects) is frozen out of the garbage collector (`gc.freeze()`), so a
  full collection scans only what sessions allocate, not a pause of the event loop
  over all of them (`python -m bench.hostile` shows the pauses without it);
- llama-server is reached through one pooled `LlamaClient`. A server that is down
  at startup does not stop the service: `/health` says so, requests get a clear
  503, and the service works as soon as llama-server is up.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
from collections.abc import Callable
from typing import Any

from orpheus_service.api.context import DepsFactory, ServiceDeps
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.engine.frame_decoder import DecoderFactory
from orpheus_service.engine.generation_gate import GenerationGate
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.engine.scheduler import DecodeScheduler
from orpheus_service.engine.snac_batch import SnacBatchBackend
from orpheus_service.llama.client import LlamaClient, LlamaServerError
from orpheus_service.settings import OrpheusSettings
from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.snac.loading import load_snac
from orpheus_service.vocabulary.token_source import TokenSource

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 2.0
GPU_MAX_BATCH = 32
CPU_MAX_BATCH = 1
"""On a CPU a batched forward costs about the sum of its streams, and every member
waits for the whole batch: batching only delays first audio there (BENCHMARKS.md),
so the CPU default serves one request at a time (most urgent first)."""
GIL_SWITCH_INTERVAL_S = 0.0002
"""Process-wide: how long a thread may keep the GIL when another one wants it."""
_WARMUP_FRAME = (0, 0, 0, 0, 0, 0, 0)


def engine_from_settings(
    settings: OrpheusSettings, token_source: TokenSource, decoder_factory: DecoderFactory
) -> OrpheusEngine:
    """The engine `settings` describe, speaking through `token_source` and `decoder_factory`."""
    gate = GenerationGate(settings.yield_lead_s) if settings.yield_lead_s else None
    return OrpheusEngine(
        token_source,
        decoder_factory,
        default_voice=settings.default_voice,
        segment_max_chars=settings.segment_max_chars,
        first_segment_max_words=settings.first_segment_max_words,
        lookahead_segments=settings.lookahead_segments,
        max_tokens=settings.max_tokens,
        idle_flush_s=settings.idle_flush_s or None,
        generation_gate=gate,
        first_audio_min_s=settings.first_audio_min_s,
        word_hold_s=settings.word_hold_s,
    )


def _load_decoder(settings: OrpheusSettings, noise: bool) -> SnacStreamDecoder:
    model = load_snac(settings.snac_model, settings.snac_device)
    decoder = SnacStreamDecoder(model, noise=noise)
    state = decoder.new_state()
    decoder.step_many([state], [[_WARMUP_FRAME] * 4], flush=True)  # warm-up
    return decoder


async def build_deps(
    settings: OrpheusSettings,
    metrics: ServiceMetrics,
    *,
    batching: bool = True,
    collect_s: float = 0.003,
    max_batch: int | None = None,
    noise: bool = True,
    wrap_token_source: Callable[[TokenSource], TokenSource] | None = None,
    gil_switch_interval_s: float | None = GIL_SWITCH_INTERVAL_S,
    torch_threads: int | None = None,
    freeze_gc: bool = True,
) -> ServiceDeps:
    """Load SNAC, connect to llama-server, and assemble the engine.

    `max_batch` None picks GPU_MAX_BATCH on CUDA, CPU_MAX_BATCH on the CPU.
    `wrap_token_source` lets a benchmark observe the llama token stream;
    `gil_switch_interval_s=None` leaves `sys.setswitchinterval` alone;
    `torch_threads` sets torch's intra-op threads (None: torch's default). On a
    small CPU box shared with llama-server, 1 thread gives the lowest time to
    first audio (see BENCHMARKS.md). `freeze_gc=False` leaves the garbage
    collector alone.
    """
    if gil_switch_interval_s is not None:
        sys.setswitchinterval(gil_switch_interval_s)
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    decoder = await asyncio.to_thread(_load_decoder, settings, noise)
    if max_batch is None:
        max_batch = GPU_MAX_BATCH if decoder.device.type == "cuda" else CPU_MAX_BATCH
    scheduler = DecodeScheduler(
        SnacBatchBackend(decoder),
        batching=batching,
        collect_s=collect_s,
        max_batch=max_batch,
        on_batch=metrics.decode_batch_size.observe,
    )
    client = LlamaClient(
        settings.llama_endpoint,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        api_key=settings.llama_api_key.get_secret_value() if settings.llama_api_key else None,
        max_connections=max(settings.max_sessions * 2, 8),
    )
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await client.learn_custom_token_base()
    except (LlamaServerError, TimeoutError) as exc:
        log.warning("llama-server at %s not usable at startup: %s", settings.llama_endpoint, exc)
    source = client.token_source(settings.sampling)
    if wrap_token_source is not None:
        source = wrap_token_source(source)
    engine = engine_from_settings(settings, source, scheduler.decoder_factory)

    async def check_llama() -> str | None:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                ok = await client.health()
        except TimeoutError:
            return f"llama-server at {settings.llama_endpoint} did not answer /health in time"
        except LlamaServerError as exc:
            return str(exc)
        return None if ok else "llama-server is still loading its model"

    async def aclose() -> None:
        await scheduler.aclose()
        await client.aclose()

    if freeze_gc:
        gc.collect()
        gc.freeze()  # startup's objects leave the collector's scans (module docstring)

    return ServiceDeps(
        engine=engine,
        check_llama=check_llama,
        aclose=aclose,
        scheduler=scheduler,
    )


def deps_factory(**options: Any) -> DepsFactory:
    """`build_deps` with options bound (see its keyword arguments)."""
    return functools.partial(build_deps, **options)
