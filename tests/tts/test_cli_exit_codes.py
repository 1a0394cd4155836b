"""Exit statuses are the same across commands and match the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.environment import subprocess_env
from tests.tts.cli_support import run_cli
from unmute.tts.cli import EXIT_CODES_HELP
from unmute.tts.registry import get_backend

ROOT = Path(__file__).resolve().parents[2]


def readme_exit_table() -> dict[int, str]:
    """The README's exit-status table: status -> meaning."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Exit status", 1)[1].split("\n#", 1)[0]
    return {int(code): text for code, text in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_readme_and_help_list_the_same_statuses() -> None:
    table = readme_exit_table()
    assert sorted(table) == [0, 1, 2, 130]
    for code in table:
        assert re.search(rf"^  {code} ", EXIT_CODES_HELP, re.M)


def test_deploy_without_modal_credentials_exits_with_the_readme_status(tmp_path: Path) -> None:
    assert "Modal credentials" in readme_exit_table()[2]
    done = run_cli("deploy", cwd=tmp_path, env=subprocess_env(HOME=str(tmp_path)))
    assert done.returncode == 2, done.stderr
    assert "modal token new" in done.stderr


def test_unknown_backend_exits_with_the_setup_error_status(tmp_path: Path) -> None:
    assert "unknown or unusable backend" in readme_exit_table()[2]
    assert run_cli("say", "hi", "--backend", "nope", cwd=tmp_path).returncode == 2


def test_bad_arguments_exit_with_the_usage_status(tmp_path: Path) -> None:
    assert run_cli("say", "hi", "--no-such-flag", cwd=tmp_path).returncode == 2


def test_a_failed_synthesis_exits_with_the_failure_status(tmp_path: Path) -> None:
    assert "synthesis" in readme_exit_table()[1]
    env = subprocess_env(ORPHEUS_FASTAPI_URL="http://127.0.0.1:9", ORPHEUS_STARTUP_BUDGET_S="0.5")
    assert run_cli("say", "hi", "--backend", "orpheus", cwd=tmp_path, env=env).returncode == 1


@pytest.mark.skipif(
    get_backend("espeak").unavailable_reason() is not None, reason="needs the espeak extra"
)
def test_success_exits_zero(tmp_path: Path) -> None:
    assert run_cli("say", "hi", "--backend", "espeak", cwd=tmp_path).returncode == 0
