"""Prometheus metrics of the service, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

_TTFA_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
_RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServiceMetrics:
    """Requests by route and status, time to first audio, real-time factor, sessions, dropped
    frames, cancellations, and the process metrics (CPU, memory, file descriptors, GC)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter(
            "orpheus_http_requests",
            "HTTP requests and WebSocket handshakes answered, by route template, method "
            "(WEBSOCKET for handshakes) and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.time_to_first_audio = Histogram(
            "orpheus_time_to_first_audio_seconds",
            "From the start of a synthesis to its first audio chunk leaving the service.",
            ["endpoint"],
            buckets=_TTFA_BUCKETS,
            registry=r,
        )
        self.real_time_factor = Histogram(
            "orpheus_real_time_factor_ratio",
            "Wall time of a finished synthesis divided by its audio duration (< 1 is faster).",
            ["endpoint"],
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.active_sessions = Gauge(
            "orpheus_active_sessions", "Synthesis sessions running now.", registry=r
        )
        self.dropped_frames = Counter(
            "orpheus_dropped_frames",
            "Audio frames dropped because the model wrote out-of-range codes.",
            registry=r,
        )
        self.yield_wait_seconds = Counter(
            "orpheus_yield_wait_seconds",
            "Seconds syntheses far ahead of their listeners held their next segment back for"
            " sessions close to running dry (ORPHEUS_YIELD_LEAD_S).",
            registry=r,
        )
        self.cancelled_generations = Counter(
            "orpheus_cancelled_generations",
            "Syntheses stopped before their end (client gone or error).",
            ["reason"],
            registry=r,
        )
        self.rejected_sessions = Counter(
            "orpheus_rejected_sessions",
            "Sessions refused: every channel busy (full) or the client's share taken"
            " (client_full).",
            ["reason"],
            registry=r,
        )
        self.errors = Counter(
            "orpheus_errors",
            "Syntheses that ended with an error, by kind.",
            ["kind"],
            registry=r,
        )
        self.audio_seconds = Counter(
            "orpheus_audio_seconds",
            "Seconds of audio produced.",
            registry=r,
        )
        self.decode_batch_size = Histogram(
            "orpheus_decode_batch_size",
            "Decode requests served by one batched SNAC forward.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format for GET /metrics."""
        return generate_latest(self.registry)
