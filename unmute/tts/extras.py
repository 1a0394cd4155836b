"""Import guards for optional parts: a missing extra names its `pip install` command."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency of an extra is not installed."""


def install_hint(extra: str) -> str:
    """The exact command that installs `extra`."""
    return f"pip install 'unmute-tts[{extra}]'  (from a clone: pip install -e '.[{extra}]')"


def require_extra(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingExtraError naming the pip install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = feature or f"the '{extra}' extra"
        raise MissingExtraError(
            f"{what} needs the Python package '{module}', which is not installed. "
            f"Install it with: {install_hint(extra)}"
        ) from exc


def missing_modules(*modules: str) -> list[str]:
    """The modules among `modules` that cannot be found (without importing them)."""
    import importlib.util

    return [name for name in modules if importlib.util.find_spec(name) is None]
