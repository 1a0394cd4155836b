"""What runs inside the TTS container, as plain Python (no Modal import; tested offline).

- `load_service_settings`: the ORPHEUS_* settings of the container (the image sets
  ORPHEUS_SNAC_MODEL to the baked weights; the Modal Secret adds
  ORPHEUS_LLAMA_ENDPOINT, ORPHEUS_API_KEY and the llama keys; the key sent to
  llama-server is `llama_keys.llama_key_to_send`'s choice).
- `build_service_deps`: `orpheus_service.api.wiring.build_deps`, the service's own
  factory: loads SNAC on the GPU and warms it up, starts the decode batching
  scheduler, opens the pooled llama-server client. The Modal class awaits it in
  `@modal.enter()`, on the event loop that then serves every request, so this
  happens once per container and never per request.
- `service_app`: `create_app` on those ready dependencies (the same app that
  `unmute-tts serve` runs); its shutdown closes them.
"""

from __future__ import annotations

from fastapi import FastAPI

from modal_services.llama_keys import llama_key_to_send
from orpheus_service.api.app import ServiceDeps, create_app
from orpheus_service.api.metrics import ServiceMetrics
from orpheus_service.api.wiring import build_deps
from orpheus_service.settings import OrpheusSettings


def load_service_settings() -> OrpheusSettings:
    """The container's settings, with the llama key of the rotation's current step;
    an invalid variable raises an error naming it."""
    key = llama_key_to_send()
    return OrpheusSettings.load(**({"llama_api_key": key} if key else {}))


async def build_service_deps(settings: OrpheusSettings) -> tuple[ServiceDeps, ServiceMetrics]:
    """SNAC loaded and warmed up, scheduler and llama client ready (once per container)."""
    metrics = ServiceMetrics()
    deps = await build_deps(settings, metrics)
    return deps, metrics


def service_app(settings: OrpheusSettings, deps: ServiceDeps, metrics: ServiceMetrics) -> FastAPI:
    """The service's ASGI app on ready dependencies."""
    return create_app(settings, deps, metrics=metrics)
