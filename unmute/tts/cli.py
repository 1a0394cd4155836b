"""The `unmute-tts` command: say, voices, backends (record, serve, deploy: entry points)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any, TextIO

from unmute.tts.audio import write_wav
from unmute.tts.availability import set_background_recovery
from unmute.tts.backend_listing import list_backends_command
from unmute.tts.orchestrator import Orchestrator, SpeechResult
from unmute.tts.protocol import SAMPLE_RATE, FloatArray, TTSTextMessage
from unmute.tts.registry import (
    UnknownBackendError,
    chain_names,
    get_backend,
    resolve_backend_name,
)
from unmute.tts.settings import SettingsError, TTSSettings, load_settings

Command = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_FAILED = 1
"""The work failed: synthesis, the service, or a deploy step."""
EXIT_USAGE = 2
"""Found before any work: arguments, settings, backend, extras, credentials."""
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit status (every command):
  0    success
  1    the work failed: synthesis error, no audio, the service or a deploy step failed
  2    a usage or setup error, found before any work: bad arguments, empty text,
       unwritable output path, invalid setting, unknown or unusable backend,
       missing extra, missing Modal credentials
  130  interrupted (Ctrl-C)
"""

NO_BACKEND_HINT = (
    "no TTS backend is usable here. Install an offline voice: "
    "pip install 'unmute-tts[piper]' (neural) or 'unmute-tts[espeak]' (lightest); "
    "or point at an Orpheus service with "
    "ORPHEUS_FASTAPI_URL (or choose a backend with --backend / UNMUTE_TTS_BACKEND)"
)


class UsageError(Exception):
    """Bad input found before any work (exit status 2)."""


class SpeechFailed(Exception):
    """The speech failed (exit status 1)."""


class Progress:
    """One status line on a terminal, rewritten in place: audio seconds, words, RTF so far.

    Drawn only once the speech has run for `delay_s` (short texts print nothing), at
    most every `interval_s`, and erased by `close`.
    """

    def __init__(
        self, stream: TextIO, total_words: int, *, delay_s: float = 0.5, interval_s: float = 0.2
    ) -> None:
        self.stream = stream
        self.total_words = total_words
        self.delay_s = delay_s
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._last_drawn: float | None = None

    def update(self, audio_s: float, words: int) -> None:
        """Redraw the line if it is due."""
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < self.delay_s:
            return
        if self._last_drawn is not None and now - self._last_drawn < self.interval_s:
            return
        self._last_drawn = now
        rtf = f"{elapsed / audio_s:.2f}" if audio_s > 0 else "-"
        line = f"speaking: {audio_s:.1f} s of audio, {words}/{self.total_words} words, RTF {rtf}"
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """Erase the line, if one was drawn."""
        if self._last_drawn is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class CollectingSink:
    """A SpeechSink that keeps everything it is given (and reports progress)."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.chunks: list[FloatArray] = []
        self.words: list[TTSTextMessage] = []
        self.samples = 0
        self.progress = progress

    async def audio(self, pcm: FloatArray) -> None:
        self.chunks.append(pcm)
        self.samples += len(pcm)
        self._report()

    async def word(self, word: TTSTextMessage) -> None:
        self.words.append(word)
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress.update(self.samples / SAMPLE_RATE, len(self.words))


async def stream_words(text: str) -> AsyncIterator[str]:
    """Yield `text` word by word, as an LLM writes it."""
    for word in text.split():
        yield word + " "
        await asyncio.sleep(0)


def read_text(text: str | None, file: str | None) -> str:
    """The text to speak: TEXT, standard input for `-`, or a file; never empty."""
    if text is not None and file is not None:
        raise UsageError("give the text either as TEXT or with --file, not both")
    source = file if file is not None else "-" if text == "-" else None
    if text is None and source is None:
        raise UsageError("nothing to speak: give TEXT, - to read standard input, or --file PATH")
    if source == "-":
        text = sys.stdin.read()
    elif source is not None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --file {source}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"cannot read --file {source}: not UTF-8 text") from None
    assert text is not None
    if not text.strip():
        raise UsageError("the text is empty: there is nothing to speak")
    return text


def check_output_path(path: str) -> Path:
    """`path` if a WAV file can be written there, else UsageError (before any work)."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: the directory {parent} does not exist")
    if out.exists() and not os.access(out, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")
    if not out.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: no permission to create files in {parent}")
    return out


def choose_backend(name: str | None, settings: TTSSettings, *, usable: bool = True) -> str:
    """The backend (or `a,b` chain) to use, each member checked usable here unless `usable`
    is False; UsageError says what to install or set."""
    try:
        names = chain_names(name or resolve_backend_name(settings)[0])
    except UnknownBackendError as exc:
        if name or settings.tts_backend:
            raise UsageError(str(exc)) from None
        raise UsageError(NO_BACKEND_HINT) from None
    for member in names:
        reason = get_backend(member).unavailable_reason() if usable else None
        if reason is not None:
            raise UsageError(f"the {member!r} backend is not usable here: {reason}")
    return ",".join(names)


def _say(args: argparse.Namespace) -> int:
    text = read_text(args.text, args.file)
    output = check_output_path(args.output) if args.output else None
    settings = load_settings(TTSSettings)
    backend = choose_backend(args.backend, settings)
    show_progress = not args.no_progress and sys.stderr.isatty()
    progress = Progress(sys.stderr, len(text.split())) if show_progress else None
    sink = CollectingSink(progress)
    set_background_recovery(False)  # one utterance: nothing to recover for
    orchestrator = Orchestrator(sink, backend=backend, voice=args.voice, settings=settings)
    try:
        result: SpeechResult = asyncio.run(orchestrator.speak(stream_words(text)))
    finally:
        if progress is not None:
            progress.close()
    if result.error:
        raise SpeechFailed(result.error)
    if sink.samples == 0:
        raise SpeechFailed(f"the {backend!r} backend produced no audio")
    if output is not None:
        try:
            write_wav(output, sink.chunks)
        except OSError as exc:
            raise SpeechFailed(f"cannot write {output}: {exc.strerror or exc}") from None
    _print_summary(args, result, output)
    return EXIT_OK


def _print_summary(args: argparse.Namespace, result: SpeechResult, output: Path | None) -> None:
    summary: dict[str, Any] = {
        "backend": result.backend,
        "voice": result.voice,
        "ttfa_ms": None if result.ttfa_s is None else round(result.ttfa_s * 1000, 1),
        "audio_s": round(result.audio_s, 3),
        "words": len(result.words),
        "rtf": None if result.rtf is None else round(result.rtf, 4),
        "output": None if output is None else str(output),
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"backend        {summary['backend']} (voice: {summary['voice'] or 'default'})")
    print(f"time to audio  {summary['ttfa_ms']} ms")
    print(f"audio          {summary['audio_s']} s")
    print(f"words          {summary['words']}")
    print(f"real-time x    {summary['rtf']} (wall time / audio time)")
    if output is not None:
        print(f"wrote          {output}")


def _voices(args: argparse.Namespace) -> int:
    chosen = choose_backend(args.backend, load_settings(TTSSettings), usable=False)
    backend = chain_names(chosen)[0]  # a chain speaks the handler's voice with its first member
    spec = get_backend(backend)
    voices = (spec.service_voices or spec.voices)()
    reason = spec.unavailable_reason()
    if not voices and reason is not None:
        raise UsageError(f"the {backend!r} backend is not usable here: {reason}")
    if args.json:
        print(json.dumps({"backend": backend, "voices": voices}))
        return EXIT_OK
    for voice in voices:
        print(voice)
    if not voices:
        print(f"the {backend!r} backend lists no voices", file=sys.stderr)
    return EXIT_OK


def _version() -> str:
    try:
        return version("unmute-tts")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `unmute-tts`."""
    parser = argparse.ArgumentParser(
        prog="unmute-tts",
        description=__doc__,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    say = sub.add_parser(
        "say",
        help="speak text through the Orchestrator, word by word",
        description="Speak TEXT (or standard input with -, or --file PATH) word by word "
        "through the Orchestrator; print the time to first audio, the audio seconds, the "
        "words and the real-time factor. On a terminal a progress line shows on stderr "
        "while a long text is spoken.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    say.add_argument("text", nargs="?", help="the text to speak; - reads standard input")
    say.add_argument("-f", "--file", help="read the text from this UTF-8 file (- for stdin)")
    say.add_argument(
        "--backend", help="backend name (default: UNMUTE_TTS_BACKEND or the default rule)"
    )
    say.add_argument("--voice", help="voice of the backend (see `unmute-tts voices`)")
    say.add_argument("-o", "--output", help="write the audio to this WAV file")
    say.add_argument("--json", action="store_true", help="print one JSON object")
    say.add_argument(
        "--no-progress", action="store_true", help="no progress line on stderr, even on a terminal"
    )
    say.set_defaults(func=_say)

    voices = sub.add_parser(
        "voices", help="list the voices of a backend (default: the one `say` would use)"
    )
    voices.add_argument("--backend", help="backend name (default: as for `say`)")
    voices.add_argument("--json", action="store_true", help="print one JSON object")
    voices.set_defaults(func=_voices)

    backends = sub.add_parser(
        "backends", help="list registered backends and whether they are usable"
    )
    backends.add_argument(
        "--chain",
        help="show the availability of each backend of this fallback chain (a,b; default: "
        "UNMUTE_TTS_BACKEND when it names a chain), probing each with one word",
    )
    backends.add_argument("--json", action="store_true")
    backends.set_defaults(func=list_backends_command)

    for register in _service_commands():
        register(sub)
    return parser


COMMANDS_ENTRY_POINT_GROUP = "unmute.tts_commands"
"""Entry points adding subcommands (`record`, `serve`, `deploy`): each a
`register(subparsers)`."""


def _service_commands() -> list[Callable[[Any], None]]:
    """The `register` functions of installed command entry points; one that fails to load
    (its extra is not installed) is left out."""
    registrars: list[Callable[[Any], None]] = []
    for ep in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        try:
            registrars.append(ep.load())
        except ImportError:
            continue
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `unmute-tts`; returns the exit status (see EXIT_CODES_HELP)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # the command reports a failed speech itself, in one line
        for name in ("unmute.tts.orchestrator", "unmute.tts.base"):
            logging.getLogger(name).setLevel(logging.ERROR)
    func: Command = args.func
    try:
        status = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a warning at exit
        return status
    except (UsageError, SettingsError, UnknownBackendError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpeechFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left (`| head`): what it read is what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
