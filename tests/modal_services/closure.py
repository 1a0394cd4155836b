"""Virtual environments that hold what a Modal image installs, and nothing else.

`image_venv(name, steps)` creates a fresh venv with this Python (the images' Python
is the same minor version) and runs `pip install` once per step, the way the image
runs its steps, resolving against PyPI as the image build does: no pip
configuration of this machine (its local indexes, find-links and constraints) and
no package of this machine's environment. The first step is what every Modal image
holds before its own steps: the Modal client's container requirements
(`modal/builder/<version>.txt`); the last is the Modal client package itself, which
Modal adds to every container. Venvs are cached under .cache/modal-closure, keyed by
the steps, so the packages are resolved once per change of a list.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.modal_services.helpers import ROOT

CACHE = ROOT / ".cache" / "modal-closure"
NETWORK_ERRORS = ("NewConnectionError", "Failed to establish a new connection", "Name or service")


def modal_container_requirements() -> list[str]:
    """The Modal client's container requirements (`modal/builder/<newest builder>.txt`).

    Each pin `==X` becomes `==X.*`, which also admits X's post releases: the index may
    hold only a re-upload such as certifi 2026.10.19.post1 of a pinned 2026.10.19."""
    import modal
    from modal._image import LATEST_IMAGE_BUILDER_VERSION

    path = Path(modal.__file__).parent / "builder" / f"{LATEST_IMAGE_BUILDER_VERSION}.txt"
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [f"{line}.*" if "==" in line else line for line in lines if line]


def modal_client_step() -> list[str]:
    """The Modal client, as Modal mounts it into every container: the modal package
    (with modal_proto and modal_version) and synchronicity, without dependencies (those
    are the container requirements, installed first)."""
    from importlib.metadata import version

    return ["--no-deps", f"modal=={version('modal')}", f"synchronicity=={version('synchronicity')}"]


def pip_env() -> dict[str, str]:
    """The environment for pip: none of this machine's pip configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if "PIP_CERT" in os.environ:
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def image_venv(name: str, steps: Sequence[Sequence[str]]) -> Path:
    """The python of a cached venv where `pip install <step>` ran for each step in order."""
    steps = [modal_container_requirements(), *map(list, steps), modal_client_step()]
    key = hashlib.sha256(json.dumps([sys.version_info[:2], steps]).encode()).hexdigest()[:16]
    folder = CACHE / f"{name}-{key}"
    python = folder / "bin" / "python"
    with _locked(CACHE / f"{name}-{key}.lock"):
        if (folder / "complete").is_file():
            return python
        shutil.rmtree(folder, ignore_errors=True)
        venv.create(folder, with_pip=True, clear=True)
        for step in steps:
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *step],
                env=pip_env(),
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
            if done.returncode != 0:
                output = (done.stdout + done.stderr)[-4000:]
                if any(marker in output for marker in NETWORK_ERRORS):
                    pytest.skip(f"no package index reachable to resolve the image: {output[-500:]}")
                raise AssertionError(f"pip install {' '.join(step)} failed:\n{output}")
        (folder / "complete").write_text(json.dumps(steps, indent=1))
    return python


def installed(python: Path) -> set[str]:
    """Normalized names of the distributions installed in the venv of `python`."""
    done = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        env=pip_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {p["name"].lower().replace("_", "-") for p in json.loads(done.stdout)}
