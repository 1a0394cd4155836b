"""Helpers of the Modal tests: clean subprocess environments, and Modal's own view of
an image (its build steps as Dockerfile lines, the files it mounts), read from the
image objects the Modal modules build, without credentials or network."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without Modal credentials or ORPHEUS_* settings, HOME=home."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "ORPHEUS_", "UNMUTE_"))
    }
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_python(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` in the repository root, capturing text output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Layer:
    """One build step of an image, as Modal renders it into a Dockerfile."""

    commands: list[str]
    """The Dockerfile lines Modal sends for this step (empty for a build function)."""
    build_function: bool


def internal(image: Any) -> Any:
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(image)  # pyright: ignore[reportPrivateUsage]


def _loader_vars(obj: Any) -> dict[str, Any]:
    load = getattr(obj, "_load", None)
    if load is None:
        return {}
    return dict(inspect.getclosurevars(load).nonlocals)


def _walk(obj: Any, seen: set[int]) -> Iterator[Any]:
    """The image, its base images and mounts, bases first (the order Modal builds them)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    variables = _loader_vars(obj)
    bases: list[Any] = list((variables.get("base_images") or {}).values())
    if "base_image" in variables:  # a mount layer on top of an image
        bases.append(variables["base_image"])
    if "split_image" in variables:  # from_registry: which build Modal's builder picks
        from modal._image import LATEST_IMAGE_BUILDER_VERSION

        split = LATEST_IMAGE_BUILDER_VERSION > "2025.06"
        bases.append(variables["split_image" if split else "single_layer_image"])
    for base in bases:
        yield from _walk(base, seen)
    if "mount" in variables:
        yield variables["mount"]
    yield obj


def build_layers(image: Any) -> list[Layer]:
    """Every build step of `image`, rendered by Modal's own Dockerfile functions."""
    from modal._image import LATEST_IMAGE_BUILDER_VERSION

    layers: list[Layer] = []
    for obj in _walk(internal(image), set()):
        variables = _loader_vars(obj)
        if "dockerfile_function" not in variables:
            continue
        function = variables["dockerfile_function"]
        commands: list[str] = (
            [] if function is None else list(function(LATEST_IMAGE_BUILDER_VERSION).commands)
        )
        layers.append(Layer(commands, variables.get("build_function") is not None))
    return layers


def mounted_files(image: Any) -> dict[str, Path]:
    """Path in the container -> local file, for every file Modal would mount with `image`."""
    from modal.mount import _Mount  # pyright: ignore[reportPrivateUsage]

    files: dict[str, Path] = {}
    for obj in _walk(internal(image), set()):
        if isinstance(obj, _Mount):
            for entry in obj.entries:
                for local, remote in entry.get_files_to_upload():
                    files[str(remote)] = Path(local)
    return files


def parse_dockerfile(commands: list[str]) -> Any:
    """`commands` as dockerfile-parse reads them (a DockerfileParser)."""
    import io

    from dockerfile_parse import DockerfileParser

    return DockerfileParser(fileobj=io.StringIO("\n".join(commands) + "\n"))


def copy_mounted_files(image: Any, target: Path) -> Path:
    """Copy exactly the files Modal mounts into `target`, laid out as under the
    container's `/`; returns `target/root` (the containers' working directory)."""
    for remote, local in mounted_files(image).items():
        destination = target / remote.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(local.read_bytes())
    return target / "root"
