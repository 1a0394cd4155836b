"""The library's structure: no import cycle between its modules (imports inside functions
and under TYPE_CHECKING included) and no module longer than MAX_LINES lines."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("unmute", "backends", "orpheus_service", "modal_services")
MAX_LINES = 400


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `packages`."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load (the module, or its `from` names)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Each library module -> the library modules it imports, wherever the import is."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = _imported(node, name, is_package)
                graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (its modules in order), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from .a import X\n",
        },
    )
    cycle = find_cycle(import_graph(tmp_path, ("pkg",)))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b"}


def test_the_checker_finds_a_cycle_through_an_import_inside_a_function(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": "def late():\n    from pkg.a import x\n    return x\n",
        },
    )
    cycle = find_cycle(import_graph(tmp_path, ("pkg",)))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b"}


def test_the_checker_accepts_imports_that_go_one_way(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import x\nfrom . import c\n",
            "pkg/b.py": "import pkg.c\nx = 1\n",
            "pkg/c.py": "import json\n",
        },
    )
    assert find_cycle(import_graph(tmp_path, ("pkg",))) is None


def test_library_code_has_no_import_cycle() -> None:
    graph = import_graph(ROOT, LIBRARY)
    assert len(graph) > 50, "the library's modules were not found"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_light_core_never_names_the_service_or_modal() -> None:
    """unmute/ finds `serve` and `deploy` through entry points, never by module name."""
    naming = {
        path.relative_to(ROOT).as_posix()
        for path in module_files(ROOT, ("unmute",)).values()
        if any(name in path.read_text() for name in ("orpheus_service", "modal_services"))
    }
    assert naming == set()


@pytest.mark.parametrize("package", LIBRARY)
def test_no_library_module_is_longer_than_the_limit(package: str) -> None:
    lengths = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in module_files(ROOT, (package,)).values()
    }
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert lengths, f"no modules found under {package}/"
    assert too_long == {}, f"modules over {MAX_LINES} lines: {too_long}"
