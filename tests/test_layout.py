"""Every library module has a test file named after it, where a reader looks first: for
`orpheus_service/snac/loading.py`, `tests/orpheus_service/snac/test_loading.py` (or, for
a module in a subpackage, a file in the parent test folder named after the subpackage
and module together, as `tests/backends/test_fixture_recorder.py`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEST_FOLDERS = {
    "unmute/tts": "tests/tts",
    "backends": "tests/backends",
    "orpheus_service": "tests/orpheus_service",
    "modal_services": "tests/modal_services",
}
"""Library folder -> the test folder that mirrors it."""

LIBRARY = ("unmute", "backends", "orpheus_service", "modal_services")
"""The library's top-level packages."""

NOT_MODULES = {"__init__.py", "__main__.py"}
"""Package markers and entry points: their behaviour is that of the modules they
re-export or run, tested there."""


def library_modules() -> list[Path]:
    """Every module of the library, relative to the repository root."""
    return [
        path.relative_to(ROOT)
        for folder in TEST_FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name not in NOT_MODULES
    ]


def named_test_files(module: Path) -> list[str]:
    """The test files that would be named after `module` (any one of them will do)."""
    folder = next(f for f in TEST_FOLDERS if module.is_relative_to(f))
    parts = module.relative_to(folder).with_suffix("").parts
    names: list[str] = []
    for split in range(len(parts)):
        subfolders = "".join(f"{part}/" for part in parts[:split])
        names.append(f"{TEST_FOLDERS[folder]}/{subfolders}test_{'_'.join(parts[split:])}.py")
    return names


def has_named_test(module: Path) -> bool:
    return any((ROOT / name).is_file() for name in named_test_files(module))


def test_the_rule_accepts_the_mirrored_path_or_the_subpackage_in_the_name() -> None:
    assert named_test_files(Path("backends/fixture/recorder.py")) == [
        "tests/backends/test_fixture_recorder.py",
        "tests/backends/fixture/test_recorder.py",
    ]


def test_every_library_module_has_a_test_file_named_after_it() -> None:
    missing = [
        f"{module} (e.g. {named_test_files(module)[-1]})"
        for module in library_modules()
        if not has_named_test(module)
    ]
    assert not missing, "modules without a test file named after them:\n" + "\n".join(missing)


def test_every_library_module_lies_in_a_mirrored_folder() -> None:
    unmirrored = [
        path.relative_to(ROOT).as_posix()
        for package in LIBRARY
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name not in NOT_MODULES
        and not any(path.relative_to(ROOT).is_relative_to(folder) for folder in TEST_FOLDERS)
    ]
    assert not unmirrored, f"give these a test folder in TEST_FOLDERS: {unmirrored}"
