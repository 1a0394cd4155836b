"""Upstream unmute keeps importing with this library beside it, however they meet.

In Python 3.12 environments holding upstream's locked dependencies
(`scripts/unmute_host_env.py`): upstream installed before this project, after it, and
this library's `unmute/tts/*.py` copied into an upstream checkout. Upstream is
installed editable, as `uv sync` installs it: its own wheel leaves out its
subpackages (`packages.find` includes only `unmute`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unmute_host.hosting import (
    PROJECT_ROOT,
    clean_env,
    copy_checkout,
    last_json_line,
    run_python,
)

UPSTREAM_MODULES = ["unmute.unmute_handler", "unmute.tts.text_to_speech", "unmute.metrics"]
LIBRARY_MODULES = ["unmute.tts.pluggable", "unmute.tts.registry", "unmute.tts.protocol"]
IMPORT_SCRIPT = """
import importlib, json, sys
files = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
handler = importlib.import_module("unmute.unmute_handler")
files["handler's TextToSpeech"] = handler.TextToSpeech.__module__
print(json.dumps(files))
"""


def _import(python: Path, cwd: Path, pythonpath: Path | None = None) -> dict[str, str]:
    """Import upstream's and the library's modules; their files (and the handler's client)."""
    env = clean_env(PYTHONPATH=str(pythonpath) if pythonpath else None)
    args = ["-c", IMPORT_SCRIPT, *UPSTREAM_MODULES, *LIBRARY_MODULES]
    return last_json_line(run_python(python, args, cwd=cwd, env=env).stdout)


@pytest.mark.parametrize("layout", ["upstream-first", "project-first"])
def test_upstream_and_the_library_import_whichever_is_installed_first(
    layout: str, host_env: Callable[[str], Path], tmp_path: Path
) -> None:
    python = host_env(layout)
    files = _import(python, cwd=tmp_path)
    upstream_copy = python.parents[2] / "upstream"
    site_packages = python.parents[1] / "lib"
    for name in UPSTREAM_MODULES:
        assert Path(files[name]).is_relative_to(upstream_copy), name
    for name in LIBRARY_MODULES:
        assert Path(files[name]).is_relative_to(site_packages), name
    assert files["handler's TextToSpeech"] == "unmute.tts.text_to_speech"


def test_the_library_copied_into_a_checkout_imports_with_the_one_line_change(
    host_env: Callable[[str], Path], upstream_dir: Path, tmp_path: Path
) -> None:
    python = host_env("project-deps")
    checkout = copy_checkout(upstream_dir, tmp_path / "checkout", pluggable=True)
    for module in (PROJECT_ROOT / "unmute" / "tts").glob("*.py"):
        target = checkout / "unmute" / "tts" / module.name
        assert not target.exists(), f"{module.name} would overwrite upstream's"
        shutil.copy(module, target)
    files = _import(python, cwd=tmp_path, pythonpath=checkout)
    for name in UPSTREAM_MODULES + LIBRARY_MODULES:
        assert Path(files[name]).is_relative_to(checkout), name
    assert files["handler's TextToSpeech"] == "unmute.tts.pluggable"
