"""This project's `unmute/` is a portion of upstream's namespace and hides none of it.

Checked against every path of an upstream checkout (`UNMUTE_UPSTREAM_DIR`, default
`../shared/upstream/unmute`): a regular package (`__init__.py`) would win over
upstream's namespace portions whatever the install order; a module or package at a
dotted path upstream has would shadow or replace upstream's.
"""

from __future__ import annotations

from pathlib import Path

from tests.unmute_host.hosting import PROJECT_ROOT

SHARED_NAMESPACES = {"unmute", "unmute.tts"}


def _modules(root: Path) -> set[str]:
    """Dotted paths of the `.py` modules under `root/unmute`."""
    return {
        ".".join(path.relative_to(root).with_suffix("").parts)
        for path in (root / "unmute").rglob("*.py")
        if "__pycache__" not in path.parts
    }


def _packages(root: Path) -> set[str]:
    """Dotted paths of the directories under `root/unmute` (packages, regular or not)."""
    directories = [root / "unmute"] + [
        path for path in (root / "unmute").rglob("*") if path.is_dir()
    ]
    return {
        ".".join(path.relative_to(root).parts)
        for path in directories
        if "__pycache__" not in path.parts
    }


def _files(root: Path) -> set[Path]:
    return {
        path.relative_to(root)
        for path in (root / "unmute").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_project_makes_no_regular_package_of_the_shared_namespaces() -> None:
    assert not (PROJECT_ROOT / "unmute" / "__init__.py").exists()
    assert not (PROJECT_ROOT / "unmute" / "tts" / "__init__.py").exists()


def test_upstream_shares_only_namespace_packages_with_the_project(upstream_dir: Path) -> None:
    shared = _packages(PROJECT_ROOT) & _packages(upstream_dir)
    assert shared <= SHARED_NAMESPACES
    for package in shared:
        init = Path(*package.split(".")) / "__init__.py"
        assert not (upstream_dir / init).exists(), f"upstream's {package} is a regular package"


def test_no_project_module_has_the_dotted_path_of_an_upstream_module_or_package(
    upstream_dir: Path,
) -> None:
    upstream_names = _modules(upstream_dir) | _packages(upstream_dir)
    assert sorted(_modules(PROJECT_ROOT) & upstream_names) == []


def test_no_project_package_has_the_dotted_path_of_an_upstream_module(
    upstream_dir: Path,
) -> None:
    assert sorted(_packages(PROJECT_ROOT) & _modules(upstream_dir)) == []


def test_no_project_file_would_overwrite_an_upstream_file(upstream_dir: Path) -> None:
    assert sorted(_files(PROJECT_ROOT) & _files(upstream_dir)) == []
