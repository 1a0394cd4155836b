"""Helpers for the tests that run this library inside upstream unmute.

- `host_env_script()`: `scripts/unmute_host_env.py` as a module (builds and caches the
  Python 3.12 environments: upstream's locked dependencies plus this project).
- `copy_checkout(upstream, dest, pluggable=...)`: a writable copy of an unmute
  checkout's `unmute/` package, with the README's one-line change to
  `unmute_handler.py` when `pluggable` is true.
- `run_python(...)`: run a 3.12 interpreter in a clean environment (only the variables
  given, upstream checkout on `PYTHONPATH`), failing with its output on error.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.environment import subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HANDLER = Path("unmute") / "unmute_handler.py"
UPSTREAM_IMPORT = "from unmute.tts.text_to_speech import ("
PLUGGABLE_IMPORT = "from unmute.tts.pluggable import ("


@cache
def host_env_script() -> ModuleType:
    """`scripts/unmute_host_env.py`, imported as a module."""
    path = PROJECT_ROOT / "scripts" / "unmute_host_env.py"
    spec = importlib.util.spec_from_file_location("unmute_host_env", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_checkout(upstream: Path, dest: Path, *, pluggable: bool) -> Path:
    """Copy upstream's `unmute/` to `dest/unmute`; with `pluggable`, the one-line change.

    Returns `dest` (the directory to put on `PYTHONPATH`).
    """
    shutil.copytree(
        upstream / "unmute", dest / "unmute", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    if pluggable:
        handler = dest / HANDLER
        source = handler.read_text()
        if source.count(UPSTREAM_IMPORT) != 1:
            raise AssertionError(f"{upstream / HANDLER} no longer has the line {UPSTREAM_IMPORT!r}")
        handler.write_text(source.replace(UPSTREAM_IMPORT, PLUGGABLE_IMPORT))
    return dest


def host_subprocess_env(**variables: str | None) -> dict[str, str]:
    """`subprocess_env` without Python's own variables either (the host venv's Python runs),
    plus `variables` (None values left out)."""
    return subprocess_env(also_drop=("PYTHON", "VIRTUAL_ENV"), **variables)


def run_python(
    python: Path,
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `python -P args...`; AssertionError with its output when it fails."""
    done = subprocess.run(
        [str(python), "-P", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{python} {' '.join(args)[:200]} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-6000:]}"
        )
    return done


def last_json_line(output: str) -> Any:
    """The JSON object printed on the last non-empty line of `output`."""
    return json.loads(output.strip().splitlines()[-1])
