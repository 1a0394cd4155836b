"""Latency and speed of a deployed Orpheus service, over unmute's WebSocket.

For each concurrency level (1, 4 and 16 sessions by default) it runs that many
sessions at once against `/api/tts_streaming`, `--rounds` times, each session
speaking the same reply text the way unmute does (connect, wait for Ready, send
the words, Eos, read until the server closes). Per session:

- TTFA, time to first audio: first word sent -> first Audio message received;
- RTF, real-time factor: first word sent -> last message, over the seconds of
  audio received (< 1 is faster than real time; unmute needs < 1).

Reported per level: TTFA p50 / p95 / max, RTF p50 / p95, audio seconds, errors.
Goals checked: TTFA p50 <= 200 ms at 1 session, TTFA p95 <= 500 ms at 16 sessions
(each only when that level was run). One warm-up session runs first so a cold
start is not counted (`--no-warmup` to include it).

Settings come from the same variables as the `orpheus` backend:
ORPHEUS_FASTAPI_URL (required), ORPHEUS_API_KEY, ORPHEUS_MODAL_KEY/ORPHEUS_MODAL_SECRET.

    python -m bench.live [--sessions 1,4,16] [--rounds 3] [--voice tara]
                         [--word-interval-ms 0] [--json]

Exit status: 0 every goal met, 1 a goal missed or sessions failed, 2 not configured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from unmute.tts.protocol import (
    SAMPLE_RATE,
    TTSClientEosMessage,
    TTSClientTextMessage,
    decode_frame,
    encode_frame,
)

DEFAULT_TEXT = (
    "Sure, happy to help with that. The quickest way to get there is to take the "
    "train to the city center, then walk about ten minutes north along the river. "
    "Let me know if you would like directions from somewhere else."
)
GOALS = (
    # (sessions, statistic, limit in ms)
    (1, "ttfa_p50_ms", 200.0),
    (16, "ttfa_p95_ms", 500.0),
)


@dataclass
class SessionResult:
    """One session's measurements."""

    ttfa_s: float | None = None
    audio_s: float = 0.0
    wall_s: float = 0.0
    words: int = 0
    error: str | None = None

    @property
    def rtf(self) -> float | None:
        """Wall time over audio time."""
        return self.wall_s / self.audio_s if self.audio_s > 0 else None


@dataclass
class LevelResult:
    """Statistics of one concurrency level."""

    sessions: int
    runs: int
    errors: int
    ttfa_p50_ms: float | None
    ttfa_p95_ms: float | None
    ttfa_max_ms: float | None
    rtf_p50: float | None
    rtf_p95: float | None
    audio_s_mean: float | None
    error_samples: list[str] = field(default_factory=lambda: list[str]())


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(sessions: int, results: Sequence[SessionResult]) -> LevelResult:
    """Percentiles of the successful sessions of one level."""
    ok = [r for r in results if r.error is None and r.ttfa_s is not None]
    ttfa_ms = [cast(float, r.ttfa_s) * 1000.0 for r in ok]
    rtfs = [r.rtf for r in ok if r.rtf is not None]
    errors = [r.error for r in results if r.error is not None]

    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return LevelResult(
        sessions=sessions,
        runs=len(results),
        errors=len(results) - len(ok),
        ttfa_p50_ms=rounded(percentile(ttfa_ms, 50), 1),
        ttfa_p95_ms=rounded(percentile(ttfa_ms, 95), 1),
        ttfa_max_ms=rounded(max(ttfa_ms) if ttfa_ms else None, 1),
        rtf_p50=rounded(percentile(rtfs, 50), 3),
        rtf_p95=rounded(percentile(rtfs, 95), 3),
        audio_s_mean=rounded(statistics.fmean(r.audio_s for r in ok) if ok else None, 2),
        error_samples=sorted({e for e in errors if e})[:3],
    )


def check_goals(levels: Sequence[LevelResult]) -> list[dict[str, Any]]:
    """Each goal whose level was run: its value, limit and whether it is met."""
    by_sessions = {level.sessions: level for level in levels}
    checks: list[dict[str, Any]] = []
    for sessions, statistic, limit in GOALS:
        level = by_sessions.get(sessions)
        if level is None:
            continue
        value: float | None = getattr(level, statistic)
        checks.append(
            {
                "goal": f"{statistic} <= {limit:.0f} at {sessions} session(s)",
                "value": value,
                "met": value is not None and value <= limit and level.errors == 0,
            }
        )
    return checks


# -- one session ---------------------------------------------------------------------------


async def run_session(
    url: str,
    headers: Mapping[str, str],
    text: str,
    *,
    word_interval_s: float = 0.0,
    timeout_s: float = 120.0,
) -> SessionResult:
    """Speak `text` over unmute's WebSocket protocol and time it."""
    from websockets.asyncio.client import connect

    result = SessionResult()
    words = text.split()
    try:
        async with asyncio.timeout(timeout_s):
            async with connect(
                url,
                additional_headers=dict(headers),
                max_size=64 * 1024 * 1024,
                open_timeout=timeout_s,  # a cold start holds the handshake
            ) as ws:
                ready = decode_frame(await ws.recv())
                if ready.get("type") != "Ready":
                    result.error = f"expected Ready, got {ready.get('type')}: {ready}"
                    return result
                started = time.perf_counter()

                async def send_words() -> None:
                    for word in words:
                        await ws.send(encode_frame(TTSClientTextMessage(text=word)))
                        if word_interval_s:
                            await asyncio.sleep(word_interval_s)
                    await ws.send(encode_frame(TTSClientEosMessage()))

                sender = asyncio.create_task(send_words())
                try:
                    async for frame in ws:
                        if not isinstance(frame, bytes):
                            continue
                        message = decode_frame(frame)
                        kind = message.get("type")
                        if kind == "Audio":
                            if result.ttfa_s is None:
                                result.ttfa_s = time.perf_counter() - started
                            result.audio_s += len(message["pcm"]) / SAMPLE_RATE
                        elif kind == "Text":
                            result.words += 1
                        elif kind == "Error":
                            result.error = f"service error: {message.get('message')}"
                            break
                    result.wall_s = time.perf_counter() - started
                finally:
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
    except TimeoutError:
        result.error = f"timed out after {timeout_s:.0f} s"
    except Exception as exc:  # network failures are results, not crashes
        result.error = f"{type(exc).__name__}: {exc}"
    if result.error is None and result.audio_s == 0:
        result.error = "no audio"
    return result


async def run_level(
    url: str,
    headers: Mapping[str, str],
    text: str,
    sessions: int,
    rounds: int,
    word_interval_s: float,
) -> LevelResult:
    """`rounds` times, `sessions` sessions at once."""
    results: list[SessionResult] = []
    for _ in range(rounds):
        batch = await asyncio.gather(
            *(
                run_session(url, headers, text, word_interval_s=word_interval_s)
                for _ in range(sessions)
            )
        )
        results.extend(batch)
    return summarize(sessions, results)


# -- output --------------------------------------------------------------------------------


def format_table(levels: Sequence[LevelResult], goals: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of the levels and the goal checks."""

    def cell(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:g}{unit}"

    header = (
        f"{'sessions':>8} {'runs':>5} {'errors':>6} {'TTFA p50':>10} {'TTFA p95':>10} "
        f"{'TTFA max':>10} {'RTF p50':>8} {'RTF p95':>8} {'audio s':>8}"
    )
    lines = [header, "-" * len(header)]
    for level in levels:
        lines.append(
            f"{level.sessions:>8} {level.runs:>5} {level.errors:>6} "
            f"{cell(level.ttfa_p50_ms, ' ms'):>10} {cell(level.ttfa_p95_ms, ' ms'):>10} "
            f"{cell(level.ttfa_max_ms, ' ms'):>10} {cell(level.rtf_p50):>8} "
            f"{cell(level.rtf_p95):>8} {cell(level.audio_s_mean):>8}"
        )
        for sample in level.error_samples:
            lines.append(f"{'':>8} error: {sample}")
    if goals:
        lines.append("")
        for goal in goals:
            mark = "PASS" if goal["met"] else "FAIL"
            lines.append(f"{mark}  {goal['goal']}  (measured: {cell(goal['value'], ' ms')})")
    lines.append("")
    lines.append("TTFA: first word sent -> first audio. RTF: wall time / audio time (< 1 is")
    lines.append("faster than real time). Errors make a goal fail.")
    return "\n".join(lines)


def parse_sessions(value: str) -> list[int]:
    """Parse a list of session counts such as 1,4,16."""
    try:
        levels = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,4,16, got {value!r}") from None
    if not levels or any(n < 1 for n in levels):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {value!r}")
    return levels


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=parse_sessions, default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=3, help="repetitions per level")
    parser.add_argument("--voice", default="tara")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument(
        "--word-interval-ms",
        type=float,
        default=0.0,
        help="pause between words sent, to mimic an LLM's pace (default 0: all text at once)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="count the first (cold) session")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from backends.orpheus.settings import load_client_settings
    from unmute.tts.settings import SettingsError

    try:
        settings = load_client_settings()
        settings.check()
    except SettingsError as exc:
        print(
            f"bench/live.py needs a deployed Orpheus service: {exc}. Deploy one with "
            "`unmute-tts deploy` (README.md, 'Deploy on Modal'), then export ORPHEUS_FASTAPI_URL "
            "(and ORPHEUS_API_KEY) as it prints.",
            file=sys.stderr,
        )
        return 2
    url = settings.streaming_url(args.voice)
    headers = settings.headers()
    interval = args.word_interval_ms / 1000.0

    async def run_all() -> tuple[SessionResult | None, list[LevelResult]]:
        warm = None
        if not args.no_warmup:
            warm = await run_session(url, headers, args.text, timeout_s=900.0)
        levels = [
            await run_level(url, headers, args.text, n, args.rounds, interval)
            for n in args.sessions
        ]
        return warm, levels

    warm, levels = asyncio.run(run_all())
    goals = check_goals(levels)
    failed = any(not goal["met"] for goal in goals) or any(level.errors for level in levels)
    if args.json:
        print(
            json.dumps(
                {
                    "url": settings.websocket_url,
                    "voice": args.voice,
                    "word_interval_ms": args.word_interval_ms,
                    "warmup": None if warm is None else asdict(warm),
                    "levels": [asdict(level) for level in levels],
                    "goals": goals,
                    "ok": not failed,
                }
            )
        )
    else:
        print(f"service  {settings.websocket_url}  (voice {args.voice})")
        if warm is not None:
            state = warm.error or f"{(warm.ttfa_s or 0) * 1000:.0f} ms to first audio"
            print(f"warm-up  {state}")
        print()
        print(format_table(levels, goals))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
