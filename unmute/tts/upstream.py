"""Upstream kyutai-labs/unmute's modules, when installed beside us (its metrics,
exceptions, realtime events and voice cloning).

Upstream's `unmute` and this library are portions of one namespace package. Inside an
unmute deployment its modules (`unmute.metrics`, `unmute.exceptions`, ...) import; on
their own they do not, and nothing here needs them. This library ships no module under
any of upstream's dotted paths, so a successful import is always upstream's.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from types import ModuleType
from typing import Final

logger = logging.getLogger(__name__)

METRICS: Final = "unmute.metrics"
EXCEPTIONS: Final = "unmute.exceptions"
EVENTS: Final = "unmute.openai_realtime_api_events"
VOICE_CLONING: Final = "unmute.tts.voice_cloning"


@cache
def module(name: str) -> ModuleType | None:
    """Upstream unmute's module `name`, or None when unmute is not installed here."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        logger.debug("%s not importable (not inside unmute): %s", name, exc)
    except Exception:  # upstream is there but broken: run as if outside it, say why
        logger.exception("%s failed to import; running as if outside unmute", name)
    return None


def inside_unmute() -> bool:
    """Whether upstream unmute is installed here (its metrics and exceptions import)."""
    return module(METRICS) is not None and module(EXCEPTIONS) is not None


def at_capacity_error(service: str = "tts") -> Exception | None:
    """Upstream's `MissingServiceAtCapacity(service)`, which its discovery retries on
    another instance; None outside unmute."""
    error_class = getattr(module(EXCEPTIONS), "MissingServiceAtCapacity", None)
    if not isinstance(error_class, type) or not issubclass(error_class, Exception):
        return None
    return error_class(service)


def refresh() -> None:
    """Forget which upstream modules were found (tests, or after installing unmute)."""
    module.cache_clear()
