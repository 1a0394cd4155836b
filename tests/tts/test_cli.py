"""`unmute-tts say` and `voices`: where the text comes from, checks before any work, errors."""

from __future__ import annotations

import json
import wave
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.environment import subprocess_env
from tests.tts.cli_support import run_cli
from unmute.tts.cli import EXIT_CODES_HELP, build_parser
from unmute.tts.registry import get_backend

pytestmark = pytest.mark.skipif(
    get_backend("espeak").unavailable_reason() is not None, reason="needs the espeak extra"
)


def wav_seconds(path: Path) -> float:
    """Seconds of audio in a WAV file."""
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    done = run_cli("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"unmute-tts {version('unmute-tts')}"


def test_help_lists_the_exit_codes() -> None:
    assert EXIT_CODES_HELP in build_parser().format_help()
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"  {code}" in EXIT_CODES_HELP


def test_say_dash_reads_the_text_from_stdin(tmp_path: Path) -> None:
    text = "one two three four five six"
    done = run_cli(
        "say", "-", "--backend", "espeak", "--json", "-o", "out.wav", cwd=tmp_path, stdin=text
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["words"] == 6
    assert wav_seconds(tmp_path / "out.wav") == pytest.approx(summary["audio_s"], abs=0.01)


def test_say_file_reads_the_text_from_a_file_across_lines(tmp_path: Path) -> None:
    text = "This line is read from a file.\n" * 12
    (tmp_path / "speech.txt").write_text(text)
    done = run_cli("say", "--file", "speech.txt", "--backend", "espeak", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["words"] == len(text.split())


def test_say_file_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("say", "--file", "missing.txt", "--backend", "espeak", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: cannot read --file missing.txt: No such file or directory"


@pytest.mark.parametrize("args,stdin", [(["say", ""], ""), (["say", "-"], "  \n\t\n")])
def test_empty_text_is_an_error_and_writes_no_file(
    tmp_path: Path, args: list[str], stdin: str
) -> None:
    done = run_cli(*args, "--backend", "espeak", "-o", "out.wav", cwd=tmp_path, stdin=stdin)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the text is empty: there is nothing to speak"
    assert done.stdout == ""
    assert not (tmp_path / "out.wav").exists()


def test_say_without_text_says_how_to_give_it(tmp_path: Path) -> None:
    done = run_cli("say", "--backend", "espeak", cwd=tmp_path)
    assert done.returncode == 2
    assert "give TEXT, - to read standard input, or --file PATH" in done.stderr


def test_output_path_is_checked_before_the_backend_is_even_chosen(tmp_path: Path) -> None:
    done = run_cli(
        "say", "hello", "--backend", "no-such-backend", "-o", "nodir/x.wav", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: cannot write nodir/x.wav: the directory nodir does not exist"
    )


def test_output_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    done = run_cli("say", "hello", "--backend", "espeak", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: cannot write out: it is a directory"


def test_failed_speech_prints_one_error_line_and_no_stats(tmp_path: Path) -> None:
    env = subprocess_env(
        ORPHEUS_FASTAPI_URL="http://127.0.0.1:9",  # discard port: the connection is refused
        ORPHEUS_STARTUP_BUDGET_S="0.5",
    )
    done = run_cli(
        "say", "hello there", "--backend", "orpheus", "-o", "out.wav", cwd=tmp_path, env=env
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert not (tmp_path / "out.wav").exists()


def test_voices_lists_the_voices_of_the_named_backend(tmp_path: Path) -> None:
    done = run_cli("voices", "--backend", "espeak", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.split() == get_backend("espeak").voices()


def test_voices_defaults_to_the_backend_say_would_use(tmp_path: Path) -> None:
    done = run_cli(
        "voices", "--json", cwd=tmp_path, env=subprocess_env(UNMUTE_TTS_BACKEND="espeak")
    )
    assert done.returncode == 0
    listing = json.loads(done.stdout)
    assert listing["backend"] == "espeak"
    assert "en" in listing["voices"]


def test_voices_of_a_chain_are_those_of_its_first_member(tmp_path: Path) -> None:
    done = run_cli("voices", "--json", "--backend", "espeak,fixture", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["backend"] == "espeak"
    assert listing["voices"] == get_backend("espeak").voices()


def test_voices_of_an_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("voices", "--backend", "nope", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown TTS backend 'nope'" in done.stderr


BASE_INSTALL = (
    "import sys\n"
    "for name in ('espeakng_loader', 'piper'):\n"
    "    sys.modules[name] = None  # as on a base install"
)


def test_say_on_a_base_install_names_the_offline_voice_extras(tmp_path: Path) -> None:
    done = run_cli("say", "hello", cwd=tmp_path, prelude=BASE_INSTALL)
    assert done.returncode == 2
    assert "pip install 'unmute-tts[piper]'" in done.stderr
    assert "'unmute-tts[espeak]' (lightest)" in done.stderr
    assert len(done.stderr.splitlines()) == 1
