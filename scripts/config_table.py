"""Print (or write into README.md) the configuration table of every settings class.

Usage: python scripts/config_table.py [--write]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import inspect
import itertools
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"

SECTIONS: list[tuple[str, str]] = [
    ("Library (the Orchestrator and CLI)", "unmute.tts.settings:TTSSettings"),
    ("`fixture` backend", "backends.fixture.replay:FixtureSettings"),
    ("`kyutai` backend", "backends.kyutai.settings:KyutaiClientSettings"),
    ("`orpheus` backend", "backends.orpheus.settings:OrpheusClientSettings"),
    ("`openai` backend", "backends.openai_compat.settings:OpenAITTSSettings"),
    ("`piper` backend", "backends.piper.settings:PiperSettings"),
    ("Orpheus service (`unmute-tts serve`)", "orpheus_service.settings:OrpheusSettings"),
    ("Modal deployment (`unmute-tts deploy`)", "modal_services.config:ModalDeployConfig"),
    ("Deploy credentials (`unmute-tts deploy`)", "modal_services.deploy.cli:DeployCredentials"),
    (
        "llama-server binary (local runner, tests)",
        "orpheus_service.llama.server:LlamaBinarySettings",
    ),
]


def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it in the class body, or in the body of
    the nearest base class that declares it."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if issubclass(klass, BaseSettings) and klass is not BaseSettings:
            docs.update(own_attribute_docs(klass))
    return docs


def own_attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it in `cls`'s own body."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def variable(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def default(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path):
        with contextlib.suppress(ValueError):
            value = value.relative_to(ROOT)
    return f"`{value}`"


def table() -> str:
    lines: list[str] = []
    for title, target in SECTIONS:
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        docs = attribute_docs(cls)
        lines += [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        own = [name for name in cls.model_fields if name in vars(cls).get("__annotations__", {})]
        for field in [*own, *(name for name in cls.model_fields if name not in own)]:
            env = variable(cls, field)
            meaning = docs.get(field, "").replace(f" ({env})", "").replace(f"({env}, ", "(")
            meaning = meaning.replace("|", "\\|")
            lines.append(f"| `{env}` | {default(cls, field)} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_readme(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args()
    if args.write:
        path = ROOT / "README.md"
        path.write_text(render_readme(path.read_text()))
    else:
        sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
