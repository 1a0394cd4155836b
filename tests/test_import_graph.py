"""The library's structure: its packages import each other only as LAYERS allows, the
light modules pull in no heavy library, no import cycle between modules (imports inside
functions and under TYPE_CHECKING included) and no module longer than MAX_LINES lines."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("unmute", "backends", "orpheus_service", "modal_services")
MAX_LINES = 400

CORE = "unmute.tts"
BACKENDS = ("espeak", "fixture", "kyutai", "openai_compat", "orpheus", "piper")
SERVICE = "orpheus_service"
LAYERS: dict[str, set[str]] = {
    CORE: set(),
    **{f"backends.{name}": {CORE} for name in BACKENDS},
    # The client backend shares the voices and sampling bounds (light: see LIGHT_MODULES).
    "backends.orpheus": {CORE, f"{SERVICE}.vocabulary"},
    SERVICE: set(),
    f"{SERVICE}.vocabulary": {CORE},
    f"{SERVICE}.llama": {CORE, f"{SERVICE}.vocabulary"},
    f"{SERVICE}.snac": {CORE, f"{SERVICE}.vocabulary"},
    f"{SERVICE}.engine": {CORE, f"{SERVICE}.vocabulary"},
    f"{SERVICE}.settings": {CORE, f"{SERVICE}.vocabulary"},
    f"{SERVICE}.serving": {CORE, f"{SERVICE}.settings"},
    f"{SERVICE}.api": {
        CORE,
        *(f"{SERVICE}.{layer}" for layer in ("vocabulary", "llama", "snac", "engine", "settings")),
    },
    f"{SERVICE}.cli": {CORE, f"{SERVICE}.api", f"{SERVICE}.serving", f"{SERVICE}.settings"},
    "modal_services": {CORE, f"{SERVICE}.llama", f"{SERVICE}.api", f"{SERVICE}.settings"},
    "bench": {CORE, *(f"backends.{name}" for name in BACKENDS), f"{SERVICE}.vocabulary"}
    | {f"{SERVICE}.{layer}" for layer in ("llama", "snac", "engine", "settings", "serving", "api")},
}
"""Each package -> the other packages it may import. A module belongs to the longest
package of the table its name starts with; a package imports itself freely."""

LIGHT_MODULES = (
    "backends.orpheus",
    "backends.orpheus.settings",
    f"{SERVICE}.vocabulary.voices",
    f"{SERVICE}.vocabulary.sampling",
)
"""Modules of the light base install's import path: its dependencies only."""
LIGHT_THIRD_PARTY = {
    "websockets",
    "msgpack",
    "numpy",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    "dotenv",
}


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


def layer_of(module: str, layers: dict[str, set[str]]) -> str | None:
    """The package of `layers` that `module` belongs to (the longest matching name)."""
    matching = [name for name in layers if module == name or module.startswith(name + ".")]
    return max(matching, key=len, default=None)


def layer_violations(graph: dict[str, set[str]], layers: dict[str, set[str]]) -> list[str]:
    """`importer -> imported` for each import that LAYERS-style `layers` does not allow."""
    found: list[str] = []
    for module, imported in sorted(graph.items()):
        source = layer_of(module, layers)
        for target in sorted(imported):
            into = layer_of(target, layers)
            if source is None or into is None:
                found.append(f"{module} -> {target} (a package missing from the table)")
            elif into != source and into not in layers[source]:
                found.append(f"{module} -> {target} ({source} may not import {into})")
    return found


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


def test_the_layer_check_finds_an_import_upward(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "def late():\n    from pkg.high.b import x\n    return x\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": "from pkg.low import a\nx = a\n",
        },
    )
    layers = {"pkg": set[str](), "pkg.low": set[str](), "pkg.high": {"pkg.low"}}
    graph = import_graph(tmp_path, ("pkg",))
    assert layer_violations(graph, layers) == [
        "pkg.low.a -> pkg.high.b (pkg.low may not import pkg.high)"
    ]


def test_every_package_imports_only_the_packages_its_layer_allows() -> None:
    graph = import_graph(ROOT, (*LIBRARY, "bench"))
    assert layer_violations(graph, LAYERS) == []


def test_the_light_modules_import_only_the_base_install() -> None:
    """The base install (msgpack, numpy, pydantic: no torch, fastapi, httpx) imports these."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {LIGHT_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = {name for name in json.loads(run.stdout) if not name.startswith("_")}
    loaded.discard("cython_runtime")  # a compiled extension's (msgpack's) own module
    ours = {"unmute", "backends", SERVICE, *sys.stdlib_module_names}
    assert loaded - ours - LIGHT_THIRD_PARTY == set()


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
