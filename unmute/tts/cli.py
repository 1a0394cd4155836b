"""The `unmute-tts` command: say, backends, record (and service commands)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from unmute.tts.audio import write_wav
from unmute.tts.orchestrator import Orchestrator, SpeechResult
from unmute.tts.registry import list_backends, resolve_backend_name
from unmute.tts.settings import SettingsError, TTSSettings, load_settings
from unmute.tts.protocol import FloatArray, TTSTextMessage

Command = Callable[[argparse.Namespace], int]


class CollectingSink:
    """A SpeechSink that keeps everything it is given."""

    def __init__(self) -> None:
        self.chunks: list[FloatArray] = []
        self.words: list[TTSTextMessage] = []

    async def audio(self, pcm: FloatArray) -> None:
        self.chunks.append(pcm)

    async def word(self, word: TTSTextMessage) -> None:
        self.words.append(word)


async def stream_words(text: str) -> AsyncIterator[str]:
    """Yield `text` word by word, as an LLM writes it."""
    for word in text.split():
        yield word + " "
        await asyncio.sleep(0)


def _say(args: argparse.Namespace) -> int:
    settings = load_settings(TTSSettings)
    backend = args.backend or resolve_backend_name(settings)[0]
    sink = CollectingSink()
    orchestrator = Orchestrator(sink, backend=backend, voice=args.voice, settings=settings)
    result: SpeechResult = asyncio.run(orchestrator.speak(stream_words(args.text)))
    if args.output:
        write_wav(args.output, sink.chunks)
    summary: dict[str, Any] = {
        "backend": result.backend,
        "voice": result.voice,
        "ttfa_ms": None if result.ttfa_s is None else round(result.ttfa_s * 1000, 1),
        "audio_s": round(result.audio_s, 3),
        "words": len(result.words),
        "rtf": None if result.rtf is None else round(result.rtf, 4),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"backend        {summary['backend']} (voice: {summary['voice'] or 'default'})")
        print(f"time to audio  {summary['ttfa_ms']} ms")
        print(f"audio          {summary['audio_s']} s")
        print(f"words          {summary['words']}")
        print(f"real-time x    {summary['rtf']} (wall time / audio time)")
        if args.output:
            print(f"wrote          {args.output}")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    return 0


def _backends(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for name, spec in list_backends().items():
        reason = spec.unavailable_reason()
        rows.append(
            {
                "name": name,
                "usable": reason is None,
                "why_not": reason,
                "description": spec.description,
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        status = "usable" if row["usable"] else f"unusable: {row['why_not']}"
        print(f"{row['name']:<10} {status:<10}  {row['description']}")
    return 0


def _record(args: argparse.Namespace) -> int:
    from backends.fixture.recorder import record_fixtures

    path = Path(args.output)
    record_fixtures(args.backend, list(args.texts), path, voice=args.voice)
    print(f"recorded {len(args.texts)} session(s) from {args.backend} into {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `unmute-tts`."""
    parser = argparse.ArgumentParser(prog="unmute-tts", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    say = sub.add_parser("say", help="speak TEXT through the Orchestrator, word by word")
    say.add_argument("text")
    say.add_argument(
        "--backend", help="backend name (default: UNMUTE_TTS_BACKEND or the default rule)"
    )
    say.add_argument("--voice")
    say.add_argument("-o", "--output", help="write the audio to this WAV file")
    say.add_argument("--json", action="store_true", help="print one JSON object")
    say.set_defaults(func=_say)

    backends = sub.add_parser(
        "backends", help="list registered backends and whether they are usable"
    )
    backends.add_argument("--json", action="store_true")
    backends.set_defaults(func=_backends)

    record = sub.add_parser("record", help="record sessions of a backend into a fixture file")
    record.add_argument("texts", nargs="+")
    record.add_argument("--backend", required=True)
    record.add_argument("--voice")
    record.add_argument("-o", "--output", required=True, help="fixture file (.msgpack)")
    record.set_defaults(func=_record)

    for register in _service_commands():
        register(sub)
    return parser


def _service_commands() -> list[Callable[[Any], None]]:
    """Subcommands of the Orpheus service and deployment, when those modules exist."""
    import importlib

    registrars: list[Callable[[Any], None]] = []
    for module in ("orpheus_service.cli", "modal_services.deploy"):
        try:
            registrars.append(importlib.import_module(module).register)
        except ImportError:
            continue
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `unmute-tts`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func: Command = args.func
    try:
        return func(args)
    except (SettingsError, LookupError, ImportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
