"""The piper backend against espeak (the reference): time to first audio, real-time
factor alone and with concurrent sessions, and the event loop's worst stall.

Each session speaks the same reply (4 sentences, 58 words) sent word by word the way
unmute's handler does, either at an LLM's pace (`--wps`, 30 words/s) or all at once:

- ttfa_ms: from sending the word that ends the backend's first phrase (its first
  clause boundary: the 4th word for piper, the 6th for espeak) to the first audio
  message (median over rounds);
- rtf: wall time from the first word sent to the end of the stream, per second of audio
  spoken (all at once; with N concurrent sessions, the mean over them, median over rounds);
- stall_ms: the event loop's worst delay over the whole benchmark (a task that sleeps
  1 ms and records how late it wakes), piper and espeak measured separately.

The voice loads once before timing starts.

    .venv/bin/python -m bench.piper [--rounds 3] [--sessions 1 4] [--wps 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from unmute.tts.phrasing import Phrasing, word_ending
from unmute.tts.protocol import TextToSpeech, TTSAudioMessage, TTSClientEosMessage, TTSErrorMessage

REPLY = (
    "I think the answer is yes, but let me explain why it matters here. "
    "The library reads each word as your language model writes it, and it starts "
    "speaking before the sentence is done. Numbers like 1969 or 3.5 percent are read "
    "out in full. Is there anything else you would like to know about it today?"
)
Factory = Callable[[], TextToSpeech]


def _factories() -> dict[str, Factory]:
    from backends.espeak.session import EspeakTextToSpeech
    from backends.piper.session import PiperTextToSpeech

    return {"piper": PiperTextToSpeech, "espeak": EspeakTextToSpeech}


class StallWatch:
    """The event loop's worst lateness while running."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst_s = max(self.worst_s, time.perf_counter() - before - 0.001)

    def __enter__(self) -> StallWatch:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


def first_phrase_end(words: Sequence[str], phrasing: Phrasing) -> int:
    """Index of the word that ends a backend's first phrase (its first clause boundary)."""
    clause_min, longest = phrasing.limits(first=True)
    for index, word in enumerate(words):
        ending = word_ending(word)
        count = index + 1
        if ending == "sentence" or (ending and count >= clause_min) or count >= longest:
            return index
    return len(words) - 1


async def one_session(make: Factory, wps: float | None) -> dict[str, float]:
    """Speak REPLY once; its time to first audio, wall time and audio seconds."""
    words = REPLY.split()
    tts = make()
    boundary = first_phrase_end(words, getattr(tts, "phrasing", Phrasing()))
    await tts.start_up()
    sent_at: dict[int, float] = {}
    started = time.perf_counter()

    async def feed() -> None:
        for index, word in enumerate(words):
            if wps is not None:
                await asyncio.sleep(max(0.0, started + index / wps - time.perf_counter()))
            sent_at[index] = time.perf_counter()
            await tts.send(word)
        await tts.send(TTSClientEosMessage())

    feeder = asyncio.create_task(feed())
    first_audio: float | None = None
    samples = 0
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            first_audio = first_audio or time.perf_counter()
            samples += len(message.pcm)
        elif isinstance(message, TTSErrorMessage):
            raise RuntimeError(message.message)
    wall = time.perf_counter() - started
    await feeder
    assert first_audio is not None
    return {
        "ttfa_s": first_audio - sent_at[boundary],
        "wall_s": wall,
        "audio_s": samples / 24000,
    }


async def measure(name: str, make: Factory, args: argparse.Namespace) -> dict[str, Any]:
    await one_session(make, None)  # load and warm up
    result: dict[str, Any] = {"backend": name}
    with StallWatch() as watch:
        paced = [await one_session(make, args.wps) for _ in range(args.rounds)]
        at_once = [await one_session(make, None) for _ in range(args.rounds)]
        result["ttfa_paced_ms"] = 1000 * statistics.median(r["ttfa_s"] for r in paced)
        result["ttfa_at_once_ms"] = 1000 * statistics.median(r["ttfa_s"] for r in at_once)
        for sessions in args.sessions:
            rtfs: list[float] = []
            for _ in range(args.rounds):
                runs = await asyncio.gather(*(one_session(make, None) for _ in range(sessions)))
                rtfs.append(statistics.mean(r["wall_s"] / r["audio_s"] for r in runs))
            result[f"rtf_{sessions}"] = statistics.median(rtfs)
        result["audio_s"] = at_once[0]["audio_s"]
    result["stall_ms"] = 1000 * watch.worst_s
    return result


def table(results: list[dict[str, Any]], sessions: list[int], wps: float) -> str:
    columns = [
        ("ttfa_paced_ms", f"ttfa ms @{wps:g} w/s"),
        ("ttfa_at_once_ms", "ttfa ms all at once"),
        *((f"rtf_{n}", f"rtf {n} session{'s' * (n > 1)}") for n in sessions),
        ("stall_ms", "worst stall ms"),
    ]
    lines = ["backend  " + "  ".join(f"{title:>20}" for _, title in columns)]
    for result in results:
        cells = "  ".join(f"{result[key]:>20.3f}" for key, _ in columns)
        lines.append(f"{result['backend']:<8} {cells}")
    piper, espeak = results
    ratios = "  ".join(f"{piper[key] / espeak[key]:>20.2f}" for key, _ in columns)
    lines.append(f"{'ratio':<8} {ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--wps", type=float, default=30.0, help="words per second when paced")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    async def run() -> list[dict[str, Any]]:
        return [await measure(name, make, args) for name, make in _factories().items()]

    results = asyncio.run(run())
    if args.json:
        print(json.dumps({"words": len(REPLY.split()), "wps": args.wps, "results": results}))
    else:
        print(f"{len(REPLY.split())} words, {results[0]['audio_s']:.2f} s of piper audio")
        print(table(results, args.sessions, args.wps))


if __name__ == "__main__":
    main()
