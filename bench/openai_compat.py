"""The `openai` backend's own cost, against a local stand-in speech server.

- first audio: from the server handing its first audio byte to uvicorn to the
  backend's first Audio message (`backend_ms`), next to the same interval for a bare
  httpx client reading the same answer's first chunk (`httpx_ms`, the reference: what
  any client pays for loopback and HTTP parsing). `added_ms` = backend - httpx, the
  backend's own cost (decoding, resampling, and any hold-back for word times).
  Medians. The server answers the first sentence at `--first-rate` x real time in
  20 ms packets; what the backend waits for in audio received (the resampler's
  delay at 22.05 kHz) shrinks as the server gets faster.
- per chunk: CPU time to turn 80 ms of server audio into messages on the event loop
  (decode, resample to 24 kHz, hold-back), and the word timer's time in its worker
  thread, at 24 kHz and at 22,050 Hz.
- gaps: a listener plays the audio in real time from its first message; the time it
  waits for audio after that (between sentences, mostly), for servers slower than
  real time and at >= 1.5x, each request answered after `--latency-ms`; and the
  event loop's worst stall meanwhile (lateness of a task sleeping 1 ms).

    .venv/bin/python -m bench.openai_compat [--runs 15] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx
import numpy as np

from backends.openai_compat.decoding import PcmDecoder
from backends.openai_compat.session import CHUNK_SAMPLES, OpenAITextToSpeech
from backends.openai_compat.settings import OpenAITTSSettings
from backends.openai_compat.word_hold import HeldAudio
from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.base import RetryPolicy
from unmute.tts.protocol import SAMPLE_RATE, TTSAudioMessage, TTSClientEosMessage
from unmute.tts.resampling import ResampledBlocks
from unmute.tts.word_timer import MAX_LOOKAHEAD_S, create_word_timer

SENTENCES = "This is the first sentence of the reply. " * 1 + "And here is one more. " * 3
MODES: dict[str, dict[str, Any]] = {
    "pcm 24k": {"server": {"rate": 24000}, "settings": {}},
    "pcm 22.05k": {"server": {"rate": 22050}, "settings": {}},
    "wav 22.05k": {"server": {"rate": 22050, "wav": True}, "settings": {}},
    "sse 24k": {"server": {"rate": 24000}, "settings": {"stream_format": "sse"}},
    "captioned 24k": {"server": {"rate": 24000}, "settings": {"word_times": "captioned"}},
}


def _session(url: str, **settings: Any) -> OpenAITextToSpeech:
    config = OpenAITTSSettings(**{"base_url": url, "api_key": None, **settings})
    return OpenAITextToSpeech(settings=config, retry=RetryPolicy(budget_s=10.0))


async def _first_audio(server: OpenAISpeechServer, settings: dict[str, Any], text: str) -> float:
    """ms from the server's first audio byte to the backend's first Audio message."""
    tts = _session(server.url, **settings)
    server.first_byte_at.clear()
    await tts.start_up()
    for word in text.split():
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            at = time.perf_counter()
            await tts.shutdown()
            return (at - server.first_byte_at[0]) * 1000
    raise RuntimeError("no audio")


async def _httpx_first_chunk(server: OpenAISpeechServer, text: str) -> float:
    """ms from the server's first audio byte to a bare httpx client's first chunk."""
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}
    server.first_byte_at.clear()
    url = f"{server.url}/audio/speech"
    async with httpx.AsyncClient() as client, client.stream("POST", url, json=body) as response:
        async for _ in response.aiter_bytes():
            return (time.perf_counter() - server.first_byte_at[0]) * 1000
    raise RuntimeError("no audio")


async def first_audio_rows(runs: int, rate: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    text = "Hello there, this is the first sentence of the reply."
    for name, mode in MODES.items():
        server = OpenAISpeechServer(realtime=rate, **mode["server"]).start()
        try:
            backend = [await _first_audio(server, mode["settings"], text) for _ in range(runs)]
            reference = [await _httpx_first_chunk(server, text) for _ in range(runs)]
        finally:
            server.stop()
        b, r = statistics.median(backend), statistics.median(reference)
        rows.append(
            {"mode": name, "backend_ms": b, "httpx_ms": r, "added_ms": b - r, "ratio": b / r}
        )
    return rows


async def _chunk_seconds(rate: int, chunks: int) -> tuple[float, float]:
    """Seconds to turn `chunks` 80 ms packets of 16-bit audio at `rate` into messages:
    on the event loop (decode, resample, hold), and in the word timer's worker thread."""
    step = rate * 80 // 1000
    data = (np.random.default_rng(0).standard_normal(step * chunks) * 3000).astype("<i2")
    raw = data.tobytes()
    decoder = PcmDecoder(rate)
    blocks = ResampledBlocks(rate, CHUNK_SAMPLES, extra="openai")
    timer = create_word_timer(lookahead_s=MAX_LOOKAHEAD_S)
    timer.begin_piece(["word"] * (chunks // 4))
    hold = HeldAudio(0)
    loop_s = timer_s = 0.0
    for index in range(chunks):
        begin = time.perf_counter()
        for piece in await decoder.feed(raw[index * step * 2 : (index + 1) * step * 2]):
            blocks.push(piece.pcm)
        taken = blocks.take()
        for block in taken:
            hold.add_block(block)
        hold.release(hold.pushed_s)
        middle = time.perf_counter()
        for block in taken:
            timer.push_audio(block)
        loop_s += middle - begin
        timer_s += time.perf_counter() - middle
    return loop_s, timer_s


def chunk_cost_rows(chunks: int = 2000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rate in (24000, 22050):
        loop_s, timer_s = asyncio.run(_chunk_seconds(rate, chunks))
        rows.append(
            {
                "input_rate": rate,
                "loop_us_per_80ms_chunk": loop_s / chunks * 1e6,
                "timer_thread_us_per_80ms_chunk": timer_s / chunks * 1e6,
            }
        )
    return rows


async def _watch_stalls(worst: list[float]) -> None:
    """Keep in `worst[0]` the longest a 1 ms sleep overran."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - before - 0.001)


async def _gap(rate: float, latency_s: float) -> dict[str, Any]:
    server = OpenAISpeechServer(realtime=rate, latency_s=latency_s).start()
    try:
        tts = _session(server.url)
        stalls: list[float] = [0.0]
        ticker = asyncio.create_task(_watch_stalls(stalls))
        await tts.start_up()
        for word in SENTENCES.split():
            await tts.send(word)
        await tts.send(TTSClientEosMessage())
        start: float | None = None
        played_s, waited_s = 0.0, 0.0
        async for message in tts:
            if not isinstance(message, TTSAudioMessage):
                continue
            now = time.perf_counter()
            if start is None:
                start = now
            late = now - (start + waited_s + played_s)
            waited_s += max(0.0, late)
            played_s += len(message.pcm) / SAMPLE_RATE
        ticker.cancel()
        return {
            "server_x_realtime": rate,
            "requests": len(server.requests),
            "audio_s": played_s,
            "gap_ms": waited_s * 1000,
            "worst_stall_ms": stalls[0] * 1000,
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--first-rate", type=float, default=3.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    first = asyncio.run(first_audio_rows(args.runs, args.first_rate))
    chunk = chunk_cost_rows()
    gaps = [asyncio.run(_gap(rate, args.latency_ms / 1000)) for rate in (0.8, 1.5, 3.0)]
    if args.json:
        print(json.dumps({"first_audio": first, "per_chunk": chunk, "gaps": gaps}))
        return 0
    print(f"first audio (server at {args.first_rate:g}x real time; medians of {args.runs})")
    print(f"{'mode':<15}{'backend ms':>11}{'httpx ms':>10}{'added ms':>10}{'ratio':>8}")
    for r in first:
        row = f"{r['backend_ms']:>11.1f}{r['httpx_ms']:>10.1f}{r['added_ms']:>10.1f}"
        print(f"{r['mode']:<15}{row}{r['ratio']:>8.1f}")
    print("\nper 80 ms chunk: event loop (decode + resample + hold), word timer's thread")
    for r in chunk:
        loop_us, timer_us = r["loop_us_per_80ms_chunk"], r["timer_thread_us_per_80ms_chunk"]
        print(f"input {r['input_rate']:>6} Hz: loop {loop_us:8.1f} us, timer {timer_us:8.1f} us")
    print(f"\ngaps (each request answered after {args.latency_ms:g} ms)")
    print(f"{'server x rt':>12}{'requests':>10}{'audio s':>9}{'gap ms':>9}{'stall ms':>10}")
    for r in gaps:
        row = f"{r['server_x_realtime']:>12g}{r['requests']:>10}{r['audio_s']:>9.2f}"
        print(f"{row}{r['gap_ms']:>9.1f}{r['worst_stall_ms']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
