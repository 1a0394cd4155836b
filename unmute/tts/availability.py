"""Which backends of a fallback chain are usable now, for the whole process.

unmute builds a new TTS client per turn, so what one utterance learned (the Orpheus
service is down, it missed its first-audio deadline) must outlive it: the state here
is module-level, per backend name. A backend marked unavailable is skipped by the
chain (`unmute.tts.fallback`) until a background probe brings it back: the backend's
`prewarm` (if it has one) starts at once, then a one-word synthesis at most every
`UNMUTE_TTS_FALLBACK_PROBE_INTERVAL_S`, each bounded by
`UNMUTE_TTS_FALLBACK_PROBE_TIMEOUT_S`, until one speaks. One probe per backend at a time.

Each fallback is counted in `FALLBACKS` (reason, from, to) and, where prometheus_client
is installed (inside unmute, or with the service extra), in the Prometheus counter
`unmute_tts_fallbacks_total{reason, from_backend, to_backend}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from unmute.tts.protocol import TextToSpeech, TTSAudioMessage, TTSClientEosMessage, TTSErrorMessage

logger = logging.getLogger(__name__)

PROBE_WORD: Final = "Hello."
FALLBACK_METRIC: Final = "unmute_tts_fallbacks_total"


@dataclass
class Availability:
    """One backend's standing in this process."""

    name: str
    available: bool = True
    reason: str | None = None
    """Why it was marked unavailable (None while available)."""
    changed_at: float = field(default_factory=time.monotonic)
    probes: int = 0
    """Probes run since it was last marked unavailable."""
    probe_task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        """`available`, or `unavailable: REASON`."""
        return "available" if self.available else f"unavailable: {self.reason}"


_states: dict[str, Availability] = {}
FALLBACKS: Counter[tuple[str, str, str]] = Counter()
"""Fallbacks in this process: (reason, from backend, to backend) -> count."""
_prometheus_counter: list[Any] = []
_recovery: dict[str, bool] = {"enabled": True}


def set_background_recovery(enabled: bool) -> None:
    """Whether marking a backend unavailable starts its prewarm and probes (default on).

    A one-shot process (the `say` command) turns it off: it has no later utterance to
    recover for, and a prewarm's blocking health poll would keep it from exiting."""
    _recovery["enabled"] = enabled


def availability(name: str) -> Availability:
    """The standing of backend `name` (available until something marks it otherwise)."""
    state = _states.get(name)
    if state is None:
        state = _states[name] = Availability(name)
    return state


def is_available(name: str) -> bool:
    """Whether backend `name` is not marked unavailable."""
    return availability(name).available


def mark_available(name: str) -> None:
    """`name` works again (a probe or an utterance succeeded)."""
    state = availability(name)
    if not state.available:
        logger.info("TTS backend %s is available again (after %d probe(s))", name, state.probes)
    state.available = True
    state.reason = None
    state.probes = 0
    state.changed_at = time.monotonic()


Prober = Callable[[], TextToSpeech]
"""Makes a fresh session of the backend, for a probe."""


@dataclass(frozen=True)
class ProbePolicy:
    """How often and how long a backend marked unavailable is probed."""

    interval_s: float = 5.0
    timeout_s: float = 10.0


def mark_unavailable(
    name: str,
    reason: str,
    *,
    prober: Prober | None = None,
    prewarm: Callable[[], Awaitable[None]] | None = None,
    policy: ProbePolicy | None = None,
) -> None:
    """Skip `name` until a probe speaks through it; start that probe (and its prewarm).

    Without `prober` nothing brings it back but a successful utterance.
    """
    state = availability(name)
    if state.available:
        logger.warning("TTS backend %s marked unavailable: %s", name, reason)
    state.available = False
    state.reason = reason
    state.changed_at = time.monotonic()
    if prober is None or not _recovery["enabled"] or _probing(state):
        return
    loop = asyncio.get_running_loop()
    state.probe_task = loop.create_task(
        _probe_until_available(state, prober, prewarm, policy or ProbePolicy()),
        name=f"tts-probe-{name}",
    )


def _probing(state: Availability) -> bool:
    task = state.probe_task
    if task is None or task.done():
        return False
    return task.get_loop() is asyncio.get_running_loop() and not task.get_loop().is_closed()


async def probe(prober: Prober, timeout_s: float) -> str | None:
    """Speak one word through a fresh session; None if audio came within `timeout_s`,
    else why not."""
    try:
        tts = prober()
    except Exception as exc:
        return f"cannot create a session: {exc}"
    try:
        async with asyncio.timeout(timeout_s):
            await tts.start_up()
            if tts.state() != "connected":
                return "closed during start-up"
            await tts.send(PROBE_WORD)
            await tts.send(TTSClientEosMessage())
            async for message in tts:
                if isinstance(message, TTSAudioMessage) and len(message.pcm):
                    return None
                if isinstance(message, TTSErrorMessage):
                    return message.message
        return "no audio"
    except TimeoutError:
        return f"no audio within {timeout_s:g} s"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            await tts.shutdown()


async def _probe_until_available(
    state: Availability,
    prober: Prober,
    prewarm: Callable[[], Awaitable[None]] | None,
    policy: ProbePolicy,
) -> None:
    warming: asyncio.Task[None] | None = None
    if prewarm is not None:
        warming = asyncio.create_task(
            _prewarm(state.name, prewarm), name=f"tts-prewarm-{state.name}"
        )
    try:
        while not state.available:
            await asyncio.sleep(policy.interval_s)
            if state.available:  # an utterance succeeded meanwhile
                return
            state.probes += 1
            problem = await probe(prober, policy.timeout_s)
            if problem is None:
                mark_available(state.name)
                return
            state.reason = f"probe {state.probes}: {problem}"
            logger.info("TTS backend %s still unavailable: %s", state.name, problem)
    finally:
        if warming is not None and not warming.done():
            warming.cancel()


async def _prewarm(name: str, prewarm: Callable[[], Awaitable[None]]) -> None:
    try:
        await prewarm()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("TTS backend %s: prewarm failed: %s", name, exc)


def count_fallback(reason: str, from_backend: str, to_backend: str) -> None:
    """Count one fallback here and in Prometheus (when prometheus_client is installed)."""
    FALLBACKS[(reason, from_backend, to_backend)] += 1
    counter = _fallback_counter()
    if counter is not None:
        counter.labels(reason=reason, from_backend=from_backend, to_backend=to_backend).inc()


def _fallback_counter() -> Any:
    if not _prometheus_counter:
        try:
            from prometheus_client import REGISTRY
            from prometheus_client import Counter as PrometheusCounter
        except ImportError:
            _prometheus_counter.append(None)
        else:
            existing = getattr(REGISTRY, "_names_to_collectors", {}).get(FALLBACK_METRIC)
            _prometheus_counter.append(
                existing
                or PrometheusCounter(
                    FALLBACK_METRIC,
                    "TTS utterances moved to the next backend of the chain before any audio",
                    ["reason", "from_backend", "to_backend"],
                )
            )
    return _prometheus_counter[0]


def reset() -> None:
    """Forget every backend's standing and stop the probes (tests)."""
    for state in _states.values():
        task = state.probe_task
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()
    _states.clear()
    FALLBACKS.clear()
    _recovery["enabled"] = True
