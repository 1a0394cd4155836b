"""The Orpheus TTS service on Modal: `create_app` on an L4, SNAC loaded once per container.

    modal deploy -m modal_services.orpheus_fastapi_modal   (or: unmute-tts deploy)

- Image: Debian slim; torch of one CUDA build first (`ORPHEUS_MODAL_TORCH_VERSION`,
  `ORPHEUS_MODAL_TORCH_CUDA`: 2.13.0+cu128 by default), then the service's packages;
  the SNAC weights are downloaded at image build time into `snac_dir`
  (ORPHEUS_SNAC_MODEL points there), so no container and no request ever fetches
  them. It carries this project's source folders only.
- `@modal.enter()` builds the service's dependencies once per container with the
  service's own factory (`orpheus_service.api.wiring.build_deps`: SNAC loaded onto the
  GPU and warmed up, decode batching scheduler, pooled llama client);
  `@modal.asgi_app()` serves the same `create_app` that `unmute-tts serve` runs, on
  them.
- `@modal.concurrent`: every WebSocket session and HTTP request is one Modal input;
  up to `tts_max_inputs` share a container (and its decode batching scheduler),
  the autoscaler aiming at `tts_max_sessions` per container.
- The llama URL and the API keys come from the Modal Secret (`secret_name`):
  ORPHEUS_LLAMA_ENDPOINT, ORPHEUS_API_KEY, and the llama key the service sends
  (`modal_services.llama_keys.llama_key_to_send`).
- Optional Modal proxy auth on the endpoint (`ORPHEUS_MODAL_PROXY_AUTH`).

Importing this module needs neither Modal credentials nor network: container-only
imports sit under `image.imports()`. Every argument given to Modal comes from
modal_services.config.
"""

from __future__ import annotations

from typing import Any

import modal

from modal_services.config import (
    ModalDeployConfig,
    container_env,
    tts_asgi_options,
    tts_cls_options,
    tts_concurrency,
)
from modal_services.images import (
    LOCAL_SOURCES,
    PYPI_INDEX_URL,
    REPO_ROOT,
    TTS_PIP_PACKAGES,
    ignored_source,
    snac_bake_command,
    torch_index_url,
    torch_requirement,
    tts_service_env,
)

CONFIG = ModalDeployConfig.load()

image = (
    modal.Image.debian_slim(python_version=CONFIG.python_version)
    .pip_install(
        torch_requirement(CONFIG),
        index_url=torch_index_url(CONFIG),
        extra_index_url=PYPI_INDEX_URL,
    )
    .pip_install(*TTS_PIP_PACKAGES)
    .run_commands(snac_bake_command(CONFIG))
    .env({**container_env(CONFIG), **tts_service_env(CONFIG)})
)
for _local, _remote in LOCAL_SOURCES:
    image = image.add_local_dir(REPO_ROOT / _local, _remote, ignore=ignored_source)
secret = modal.Secret.from_name(CONFIG.secret_name)
app = modal.App(CONFIG.tts_app_name, include_source=False)

with image.imports():
    from modal_services.tts_runtime import build_service_deps, load_service_settings, service_app


@app.cls(image=image, secrets=[secret], **tts_cls_options(CONFIG))
@modal.concurrent(**tts_concurrency(CONFIG))
class OrpheusTTS:
    """One container of the TTS service."""

    @modal.enter()
    async def load(self) -> None:
        """Read the settings (env + Secret); load SNAC onto the GPU and start the decode
        scheduler and llama client, once, on the loop that serves the requests."""
        self.settings = load_service_settings()
        self.deps, self.metrics = await build_service_deps(self.settings)

    @modal.asgi_app(**tts_asgi_options(CONFIG))
    def web(self) -> Any:
        """The service's ASGI app on the dependencies loaded at enter."""
        return service_app(self.settings, self.deps, self.metrics)
