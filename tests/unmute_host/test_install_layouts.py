"""Upstream unmute keeps importing with this library beside it, however they meet.

In Python 3.12 environments holding upstream's locked dependencies
(`scripts/unmute_host_env.py`): upstream installed before this project, after it, and
this library's `unmute/tts/*.py` copied into an upstream checkout. Upstream is
installed editable, as `uv sync` installs it: its own wheel leaves out its
subpackages (`packages.find` includes only `unmute`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.unmute_host.hosting import (
    PROJECT_ROOT,
    copy_checkout,
    host_subprocess_env,
    last_json_line,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
"""Slow: the first run builds the Python 3.12 environments (uv downloads their wheels)."""

ORDERS = ("upstream-first", "project-first")
UPSTREAM_MODULES = ["unmute.unmute_handler", "unmute.tts.text_to_speech", "unmute.metrics"]
LIBRARY_MODULES = ["unmute.tts.pluggable", "unmute.tts.registry", "unmute.tts.protocol"]
IMPORT_SCRIPT = """
import importlib, json, sys
files = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
handler = importlib.import_module("unmute.unmute_handler")
files["handler's TextToSpeech"] = handler.TextToSpeech.__module__
print(json.dumps(files))
"""


@dataclass
class Imported:
    """What one environment imported: module files, and where its upstream lives."""

    files: dict[str, str]
    python: Path
    checkout: Path | None = None


def _start(python: Path, cwd: Path, pythonpath: Path | None = None) -> subprocess.Popen[str]:
    """Start importing upstream's and the library's modules (and the handler's client)."""
    env = host_subprocess_env(PYTHONPATH=str(pythonpath) if pythonpath else None)
    args = [str(python), "-P", "-c", IMPORT_SCRIPT, *UPSTREAM_MODULES, *LIBRARY_MODULES]
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=PIPE, stderr=PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> dict[str, str]:
    out, err = process.communicate(timeout=300)
    if process.returncode != 0:
        raise AssertionError(
            f"importing failed ({process.returncode}):\n{out[-3000:]}{err[-6000:]}"
        )
    return last_json_line(out)


@pytest.fixture(scope="module")
def imported(
    host_env: Callable[[str], Path], upstream_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Imported]:
    """Each layout's imports, run concurrently (importing unmute's handler takes seconds)."""
    work = tmp_path_factory.mktemp("layouts")
    checkout = copy_checkout(upstream_dir, work / "checkout", pluggable=True)
    for module in (PROJECT_ROOT / "unmute" / "tts").glob("*.py"):
        target = checkout / "unmute" / "tts" / module.name
        assert not target.exists(), f"{module.name} would overwrite upstream's"
        shutil.copy(module, target)
    pythons = {layout: host_env(layout) for layout in (*ORDERS, "project-deps")}
    paths = {"project-deps": checkout}
    started = {
        layout: _start(python, work, pythonpath=paths.get(layout))
        for layout, python in pythons.items()
    }
    return {
        layout: Imported(_finish(process), pythons[layout], checkout)
        for layout, process in started.items()
    }


@pytest.mark.parametrize("layout", ORDERS)
def test_upstream_and_the_library_import_whichever_is_installed_first(
    layout: str, imported: dict[str, Imported]
) -> None:
    result = imported[layout]
    upstream_copy = result.python.parents[2] / "upstream"
    site_packages = result.python.parents[1] / "lib"
    for name in UPSTREAM_MODULES:
        assert Path(result.files[name]).is_relative_to(upstream_copy), name
    for name in LIBRARY_MODULES:
        assert Path(result.files[name]).is_relative_to(site_packages), name
    assert result.files["handler's TextToSpeech"] == "unmute.tts.text_to_speech"


def test_the_library_copied_into_a_checkout_imports_with_the_one_line_change(
    imported: dict[str, Imported],
) -> None:
    result = imported["project-deps"]
    assert result.checkout is not None
    for name in UPSTREAM_MODULES + LIBRARY_MODULES:
        assert Path(result.files[name]).is_relative_to(result.checkout), name
    assert result.files["handler's TextToSpeech"] == "unmute.tts.pluggable"
