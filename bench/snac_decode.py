"""Streaming SNAC decode: the common sliding window vs SnacStreamDecoder.

Both decoders get the same 10 s token stream (118 frames) one frame at a time, on
the real SNAC 24 kHz architecture with random weights (weight norm folded, noise
off, 2 torch threads):

- sliding: after every frame (from the 4th on), `model.decode` of the last 4
  frames, keep samples [2048:4096] (the scheme of the public Orpheus servers; it
  never emits the first frame nor the last two);
- ours: `SnacStreamDecoder` push per frame, then flush.

The two are fed interleaved, frame by frame, so that both see the same machine
load. Reported: CPU time (process time, all threads) per second of audio of the
stream (best of --repeats runs; ours includes the flush), and the max error of the
emitted samples against `model.decode` of the whole sequence, relative to its peak.

    .venv/bin/python -m bench.snac_decode [--frames 118] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from snac import SNAC

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.vocabulary.audio import SAMPLES_PER_FRAME
from orpheus_service.vocabulary.tokens import Frame
from tests.support.snac_models import SNAC_24KHZ_CONFIG, random_snac
from unmute.tts.protocol import SAMPLE_RATE


def level_codes(frames: list[Frame]) -> list[torch.Tensor]:
    """Orpheus frames -> SNAC's three code levels, batch 1."""
    l0 = [f[0] for f in frames]
    l1 = [c for f in frames for c in (f[1], f[4])]
    l2 = [c for f in frames for c in (f[2], f[3], f[5], f[6])]
    return [torch.tensor([lv], dtype=torch.long) for lv in (l0, l1, l2)]


class SlidingWindow:
    """The common scheme: after every frame (from the 4th on), decode the last 4 frames
    with `model.decode` and keep samples [2048:4096], i.e. frame k - 2."""

    def __init__(self, model: SNAC) -> None:
        self.model = model
        self.frames: list[Frame] = []
        self.out: dict[int, np.ndarray] = {}

    def push(self, frame: Frame) -> None:
        self.frames.append(frame)
        k = len(self.frames) - 1
        if k >= 3:
            with torch.inference_mode():
                audio = self.model.decode(level_codes(self.frames[k - 3 : k + 1]))
            self.out[k - 2] = audio[0, 0, SAMPLES_PER_FRAME : 2 * SAMPLES_PER_FRAME].numpy()


def run_both(
    model: SNAC, decoder: SnacStreamDecoder, frames: list[Frame]
) -> tuple[float, float, SlidingWindow, np.ndarray]:
    """Feed both decoders frame by frame, interleaved (so both see the same machine
    load); CPU seconds of each, and their output."""
    sliding = SlidingWindow(model)
    stream = decoder.new_stream()
    chunks: list[np.ndarray] = []
    sliding_cpu = ours_cpu = 0.0
    for frame in frames:
        t0 = time.process_time()
        sliding.push(frame)
        t1 = time.process_time()
        pcm = stream.push(frame)
        t2 = time.process_time()
        sliding_cpu += t1 - t0
        ours_cpu += t2 - t1
        if pcm is not None:
            chunks.append(pcm)
    t0 = time.process_time()
    tail = stream.flush()
    ours_cpu += time.process_time() - t0
    if tail is not None:
        chunks.append(tail)
    return sliding_cpu, ours_cpu, sliding, np.concatenate(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description="SNAC streaming decode benchmark")
    parser.add_argument("--frames", type=int, default=118, help="stream length (118 = 10 s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs each")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model = random_snac(SNAC_24KHZ_CONFIG, Path(tmp), noise=False)
    decoder = SnacStreamDecoder(model, noise=False)
    rng = np.random.default_rng(0)
    frames: list[Frame] = [
        tuple(int(c) for c in rng.integers(0, 4096, 7))  # type: ignore[misc]
        for _ in range(args.frames)
    ]
    with torch.inference_mode():
        reference = model.decode(level_codes(frames))[0, 0].numpy()
    peak = float(np.abs(reference).max())
    audio_s = args.frames * SAMPLES_PER_FRAME / SAMPLE_RATE

    # Warm up both paths (allocator, JIT-scripted snake, oneDNN) on a short stream.
    run_both(model, decoder, frames[:8])
    runs = [run_both(model, decoder, frames) for _ in range(args.repeats)]
    sliding_cpu = min(r[0] for r in runs)
    ours_cpu = min(r[1] for r in runs)
    _, _, sliding, ours_out = runs[-1]

    sliding_err = max(
        float(np.abs(chunk - reference[k * SAMPLES_PER_FRAME : (k + 1) * SAMPLES_PER_FRAME]).max())
        for k, chunk in sliding.out.items()
    )
    if ours_out.shape != reference.shape:
        raise SystemExit(f"ours emitted {ours_out.shape[0]} samples, expected {reference.shape[0]}")
    ours_err = float(np.abs(ours_out - reference).max())

    result = {
        "frames": args.frames,
        "audio_s": round(audio_s, 3),
        "threads": args.threads,
        "sliding_ms_per_audio_s": round(1000 * sliding_cpu / audio_s, 2),
        "ours_ms_per_audio_s": round(1000 * ours_cpu / audio_s, 2),
        "speedup": round(sliding_cpu / ours_cpu, 2),
        "sliding_max_err": sliding_err / peak,
        "ours_max_err": ours_err / peak,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"SNAC 24 kHz, random weights, {args.frames} frames = {audio_s:.2f} s, "
        f"{args.threads} threads"
    )
    print(f"{'decoder':<10} {'CPU ms / audio s':>17} {'max err / peak':>15}  emitted")
    rows = [
        ("sliding", "sliding", f"frames 1..{args.frames - 3} of 0..{args.frames - 1}"),
        ("ours", "ours", f"all {args.frames} frames"),
    ]
    for name, key, emitted in rows:
        cost, err = result[f"{key}_ms_per_audio_s"], result[f"{key}_max_err"]
        print(f"{name:<10} {cost:>17.1f} {err:>15.2e}  {emitted}")
    print(f"speedup: {result['speedup']:.2f}x")


if __name__ == "__main__":
    main()
