"""The distributions: the sdist carries runnable tests, the wheel what users need."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def build(kind: str, source: Path, out: Path) -> Path:
    """Build an sdist or wheel of `source` into `out` with setuptools (offline)."""
    code = (
        "import sys\nfrom setuptools import build_meta\n"
        f"print(build_meta.build_{kind}(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist of this checkout, built and unpacked."""
    out = tmp_path_factory.mktemp("dist")
    archive = build("sdist", ROOT, out)
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    (tree,) = [p for p in out.iterdir() if p.is_dir()]
    return tree


@pytest.fixture(scope="module")
def wheel(sdist_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the sdist (as pip builds one)."""
    return build("wheel", sdist_tree, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    """The file names in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_sdist_carries_the_test_suite_with_its_conftest_and_support(sdist_tree: Path) -> None:
    for path in ("tests/conftest.py", "tests/support/__init__.py", "tests/support/llama.py"):
        assert (sdist_tree / path).is_file(), path
    assert (sdist_tree / "LICENSE").is_file()
    assert (sdist_tree / "deploy_orpheus_modal.py").is_file()


def test_sdist_tests_collect(sdist_tree: Path) -> None:
    done = subprocess.run(
        # -m "": every test, the slow ones a plain pytest leaves out included
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "",
        ],
        cwd=sdist_tree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(collected) > 100
    assert any(line.startswith("tests/test_package.py::") for line in collected)


def test_wheel_ships_type_markers_license_and_the_deploy_script(wheel_files: set[str]) -> None:
    for marker in (
        "unmute/tts/py.typed",
        "backends/py.typed",
        "orpheus_service/py.typed",
        "modal_services/py.typed",
    ):
        assert marker in wheel_files
    assert "deploy_orpheus_modal.py" in wheel_files
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_files)


def test_wheel_ships_the_playground_page(wheel_files: set[str]) -> None:
    for name in ("index.html", "app.js", "msgpack.js", "style.css"):
        assert f"orpheus_service/api/playground/{name}" in wheel_files


def test_wheel_installs_the_deploy_command(wheel: Path, wheel_files: set[str]) -> None:
    (name,) = [n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(name).decode()
    scripts = entry_points.split("[console_scripts]", 1)[1].split("\n[", 1)[0]
    assert "deploy-orpheus-modal = modal_services.deploy:main" in scripts


def test_no_namespace_portion_gets_an_init(wheel_files: set[str]) -> None:
    assert "unmute/__init__.py" not in wheel_files
    assert "unmute/tts/__init__.py" not in wheel_files
