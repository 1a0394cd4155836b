"""What the routes share: `ServiceDeps` (the engine, health probes, cleanup), the
`ServiceContext` built from them at startup, and `get_context`, the context of the app
serving a request or WebSocket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from starlette.requests import HTTPConnection

from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.sessions.limiter import SessionLimiter
from orpheus_service.api.speech import SpeechEngine
from orpheus_service.settings import OrpheusSettings

Outcome = Literal["done", "client_gone", "error", "shutdown"]
"""How a session ended."""


class LiveSession(Protocol):
    """A running session, as the context sees it: something to close at shutdown."""

    async def close(self, outcome: Outcome) -> None: ...


def _always_ready() -> bool:
    return True


@dataclass
class ServiceDeps:
    """What the service runs on: the engine, health probes, and cleanup."""

    engine: SpeechEngine
    check_llama: Callable[[], Awaitable[str | None]]
    """None when llama-server answers, else a reason."""
    snac_ready: Callable[[], bool] = _always_ready
    aclose: Callable[[], Awaitable[None]] | None = None
    """Called at shutdown (close HTTP clients, stop the scheduler)."""
    scheduler: Any = None
    """The DecodeScheduler, when there is one (for inspection)."""


DepsFactory = Callable[[OrpheusSettings, ServiceMetrics], Awaitable[ServiceDeps]]
"""Builds the ServiceDeps at startup (`wiring.build_deps` by default)."""


@dataclass
class ServiceContext:
    """Everything the routes share."""

    settings: OrpheusSettings
    engine: SpeechEngine
    metrics: ServiceMetrics
    limiter: SessionLimiter
    check_llama: Callable[[], Awaitable[str | None]]
    """None when llama-server answers, else why not."""
    snac_ready: Callable[[], bool]
    sessions: set[LiveSession] = field(default_factory=lambda: set[LiveSession]())

    @classmethod
    def build(
        cls, settings: OrpheusSettings, deps: ServiceDeps, metrics: ServiceMetrics
    ) -> ServiceContext:
        """The context of a service running on `deps`, with `max_sessions` channels."""
        return cls(
            settings=settings,
            engine=deps.engine,
            metrics=metrics,
            limiter=SessionLimiter(settings.max_sessions, settings.max_sessions_per_client),
            check_llama=deps.check_llama,
            snac_ready=deps.snac_ready,
        )

    async def shutdown(self) -> None:
        """Cancel every running session."""
        for session in list(self.sessions):
            await session.close("shutdown")


def get_context(conn: HTTPConnection) -> ServiceContext:
    """The ServiceContext of the app serving `conn`."""
    return cast(ServiceContext, conn.app.state.orpheus)
