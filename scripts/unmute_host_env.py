#!/usr/bin/env python3
"""Build (and cache) Python 3.12 environments holding upstream unmute and this project.

Usage: `python scripts/unmute_host_env.py [LAYOUT]`; prints the environment's
interpreter. Layouts (each starts from upstream's locked dependencies, exported from
its `uv.lock` with `uv export --frozen --no-dev --no-emit-project --no-hashes` and
installed with `uv pip install`):

- `host`: plus this project, non-editable, with the `espeak`, `piper` and `openai`
  extras. Upstream's own code is not installed: run it from a checkout (on
  `PYTHONPATH`), as unmute runs.
- `upstream-first`: plus upstream (editable: its wheel leaves out its subpackages),
  then this project.
- `project-first`: plus this project, then upstream (editable).
- `project-deps`: plus this project's dependencies only (the project is installed,
  then uninstalled), for a copy of `unmute/tts/*.py` inside an upstream checkout.

Environments are cached under `<project>/.cache/unmute-host/<layout>-<key>/`, the key
a hash of upstream's `uv.lock` and `pyproject.toml` and of this project's packaged
sources; a stale one of the same layout is removed. This project is built once per
source state into a wheel (`.cache/unmute-host/wheel-<hash>/`) that every layout
installs. Builds are serialized by a lock file, so concurrent test runs share one.
uv's own cache makes a rebuild take seconds once the wheels were downloaded once.

Environment variables: `UNMUTE_UPSTREAM_DIR` (an unmute checkout; default
`../shared/upstream/unmute` beside this project), `UNMUTE_HOST_PYTHON` (a Python 3.12
interpreter; default pyenv's newest 3.12, then `python3.12` on PATH), `UV` (the uv
binary; default `uv` on PATH, then the `uv` Python package's).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("host", "upstream-first", "project-first", "project-deps")
PROJECT_FILES = ("*.toml", "*.md", "*.in", "*.py", "LICENSE*")
"""Top-level files the build may read (pyproject, readme, py-modules, manifest)."""
PROJECT_PACKAGES = ("unmute", "backends", "orpheus_service", "modal_services")
PROJECT_DIST = "unmute-tts"
PROJECT_EXTRAS = {"host": "[espeak,piper,openai]"}
"""The extras installed with this project, by layout (others: `[espeak]`)."""
COMMAND_TIMEOUT_S = 900


class HostEnvError(RuntimeError):
    """An environment could not be built; the message says which step failed and why."""


def default_upstream_dir() -> Path:
    """`UNMUTE_UPSTREAM_DIR`, else the snapshot `shared/upstream/unmute` beside this
    project or beside a folder above it (a clone kept one level deeper finds it too)."""
    configured = os.environ.get("UNMUTE_UPSTREAM_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    snapshot = Path("shared", "upstream", "unmute")
    for folder in PROJECT_ROOT.resolve().parents:
        if (folder / snapshot / "unmute" / "unmute_handler.py").is_file():
            return (folder / snapshot).resolve()
    return (PROJECT_ROOT.parent / snapshot).resolve()


def upstream_problem(upstream: Path) -> str | None:
    """Why `upstream` is not a usable unmute checkout, or None when it is."""
    for name in ("unmute/unmute_handler.py", "unmute/tts/text_to_speech.py", "uv.lock"):
        if not (upstream / name).is_file():
            return f"no {name} in {upstream} (set UNMUTE_UPSTREAM_DIR to an unmute checkout)"
    return None


def find_python312() -> Path | None:
    """A Python 3.12 interpreter: UNMUTE_HOST_PYTHON, pyenv's newest 3.12, python3.12."""
    configured = os.environ.get("UNMUTE_HOST_PYTHON")
    if configured:
        return Path(configured)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(
        root.glob("3.12.*/bin/python"),
        key=lambda p: tuple(int(x) for x in p.parts[-3].split(".") if x.isdigit()),
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("python3.12")
    return Path(found) if found else None


def python312_problem(python: Path | None) -> str | None:
    """Why `python` is not a usable Python 3.12 interpreter, or None when it is."""
    if python is None or not python.exists():
        return "no Python 3.12 found (set UNMUTE_HOST_PYTHON)"
    try:
        version = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{python} does not run: {exc}"
    if version != "3.12":
        return f"{python} is Python {version}; upstream unmute needs 3.12 (UNMUTE_HOST_PYTHON)"
    return None


def find_uv() -> str:
    """The uv binary (UV, PATH, or the `uv` package); HostEnvError when there is none."""
    configured = os.environ.get("UV") or shutil.which("uv")
    if configured:
        return configured
    try:
        from uv import (
            find_uv_bin,  # pyright: ignore[reportMissingImports, reportUnknownVariableType]
        )
    except ImportError:
        raise HostEnvError("uv not found: `pip install uv` (it is in the dev extra)") from None
    return str(find_uv_bin())  # pyright: ignore[reportUnknownArgumentType]


def _project_files(root: Path) -> Iterator[Path]:
    for pattern in PROJECT_FILES:
        yield from sorted(path for path in root.glob(pattern) if path.is_file())
    for package in PROJECT_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def snapshot_project(dest: Path) -> str:
    """Copy this project's packaged sources to `dest` (builds never write in the
    project); returns the hash of what was copied."""
    digest = hashlib.sha256()
    for path in _project_files(PROJECT_ROOT):
        relative = path.relative_to(PROJECT_ROOT)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        target.write_bytes(data)
        digest.update(str(relative).encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def environment_key(layout: str, upstream: Path, python: Path, project_hash: str) -> str:
    """Hash of everything an environment of `layout` is built from."""
    digest = hashlib.sha256(f"{layout}\0{python}\0{project_hash}\0".encode())
    for path in (upstream / "uv.lock", upstream / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def project_wheel(snapshot: Path, project_hash: str, cache_root: Path, python: Path) -> Path:
    """This project's wheel, built once per source state (shared by the layouts)."""
    directory = cache_root / f"wheel-{project_hash}"
    found = sorted(directory.glob("*.whl"))
    if found:
        return found[0]
    for stale in cache_root.glob("wheel-*"):
        shutil.rmtree(stale, ignore_errors=True)
    uv = find_uv()
    _run(
        [
            uv,
            "build",
            "-q",
            "--wheel",
            "--python",
            str(python),
            "-o",
            str(directory),
            str(snapshot),
        ],
        "building this project's wheel",
    )
    return sorted(directory.glob("*.whl"))[0]


def copy_upstream(upstream: Path, dest: Path) -> Path:
    """Copy upstream's package, pyproject.toml and uv.lock to `dest`, writable."""
    shutil.copytree(
        upstream / "unmute", dest / "unmute", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "uv.lock", "README.md", "LICENSE"):
        if (upstream / name).is_file():
            shutil.copy(upstream / name, dest / name)
    for path in dest.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    dest.chmod(dest.stat().st_mode | 0o200)
    return dest


def _run(command: list[str], step: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    env.pop("VIRTUAL_ENV", None)
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HostEnvError(f"{step}: timed out after {COMMAND_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-3000:]
        raise HostEnvError(f"{step} failed ({' '.join(command)}):\n{tail}")
    return done.stdout


def _build(layout: str, root: Path, upstream: Path, python: Path, wheel: Path) -> None:
    uv = find_uv()
    venv = root / "venv"
    interpreter = str(venv / "bin" / "python")
    with tempfile.TemporaryDirectory(prefix="unmute-host-") as tmp:
        work = Path(tmp)
        locked = copy_upstream(upstream, work / "upstream")
        requirements = root / "requirements.txt"
        _run(
            [
                *(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"),
                *("--project", str(locked), "-o", str(requirements)),
            ],
            "exporting upstream's locked dependencies",
        )
        _run([uv, "venv", "-q", "--python", str(python), str(venv)], "creating the venv")
        pip = [uv, "pip", "install", "-q", "--python", interpreter]
        _run([*pip, "-r", str(requirements)], "installing upstream's locked dependencies")
        project = f"{wheel}{PROJECT_EXTRAS.get(layout, '[espeak]')}"
        if layout in ("upstream-first", "project-first"):
            upstream_copy = copy_upstream(upstream, root / "upstream")
            steps = [["-e", str(upstream_copy)], [project]]
            if layout == "project-first":
                steps.reverse()
            for args in steps:
                _run([*pip, *args], f"installing {args[-1]}")
        else:
            _run([*pip, project], "installing this project")
        if layout == "project-deps":
            _run(
                [uv, "pip", "uninstall", "-q", "--python", interpreter, PROJECT_DIST],
                "uninstalling this project (keeping its dependencies)",
            )


def ensure_environment(
    layout: str,
    *,
    upstream: Path | None = None,
    python: Path | None = None,
    cache_root: Path | None = None,
) -> Path:
    """The interpreter of a cached environment of `layout`, built when missing."""
    if layout not in LAYOUTS:
        raise HostEnvError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
    upstream = upstream or default_upstream_dir()
    problem = upstream_problem(upstream)
    if problem:
        raise HostEnvError(problem)
    python = python or find_python312()
    problem = python312_problem(python)
    if problem or python is None:
        raise HostEnvError(problem or "no Python 3.12")
    cache_root = cache_root or PROJECT_ROOT / ".cache" / "unmute-host"
    cache_root.mkdir(parents=True, exist_ok=True)
    with (
        (cache_root / ".lock").open("w") as lock,
        tempfile.TemporaryDirectory(prefix="unmute-host-project-") as tmp,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        snapshot = Path(tmp)
        project_hash = snapshot_project(snapshot)
        root = cache_root / f"{layout}-{environment_key(layout, upstream, python, project_hash)}"
        if not (root / "ready.json").is_file():
            for stale in cache_root.glob(f"{layout}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            wheel = project_wheel(snapshot, project_hash, cache_root, python)
            root.mkdir(parents=True)
            try:
                _build(layout, root, upstream, python, wheel)
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            info = {"layout": layout, "upstream": str(upstream), "wheel": wheel.name}
            (root / "ready.json").write_text(json.dumps(info))
    return root / "venv" / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    """Command line: build or reuse an environment, print its interpreter."""
    parser = argparse.ArgumentParser(
        description="Build or reuse a Python 3.12 environment: upstream unmute + this project."
    )
    parser.add_argument("layout", nargs="?", default="host", choices=LAYOUTS)
    args = parser.parse_args(argv)
    try:
        print(ensure_environment(args.layout))
    except HostEnvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
