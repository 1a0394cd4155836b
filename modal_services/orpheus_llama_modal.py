"""llama.cpp's `llama-server` on Modal (L40S), serving the Orpheus GGUF.

    modal deploy -m modal_services.orpheus_llama_modal   (or: unmute-tts deploy)

- Image: llama.cpp's official CUDA server image (`llama_image`, pinned to a build),
  with Python added for Modal and the model download (`images.LLAMA_PIP_PACKAGES`,
  nothing else: the container's code imports only those and the standard library);
  its entrypoint is cleared. It carries this project's source folders only.
- The GGUF is downloaded once into the Volume `models_volume` (function
  `download_model`, which the deploy runs; the server does the same on a cold start
  if the file is missing) and read from there by every container afterwards.
- `serve` is a `@modal.web_server`: it starts llama-server with the command line of
  `orpheus_service.llama.server.build_llama_server_command` (the builder the local
  tests run) for `config.llama_server_config`: all layers on the GPU (`-ngl 999`),
  `parallel_slots` slots with `ctx_per_slot` tokens each, and the Secret's llama
  keys in `--api-key-file` (the key, and during a rotation the next key too:
  `modal_services.llama_keys`). It returns once `/health` answers 200, within the
  startup timeout, so no request reaches a server still loading the model.
- `@modal.concurrent(max_inputs=parallel_slots)`: one request per slot per container;
  the next one makes Modal start another container instead of queueing.

Importing this module needs neither Modal credentials nor network.
"""

from __future__ import annotations

import modal

from modal_services.config import (
    ModalDeployConfig,
    container_env,
    download_function_options,
    llama_concurrency,
    llama_function_options,
    llama_web_server_options,
)
from modal_services.images import LLAMA_PIP_PACKAGES, LOCAL_SOURCES, REPO_ROOT, ignored_source

CONFIG = ModalDeployConfig.load()

image = (
    modal.Image.from_registry(CONFIG.llama_image, add_python=CONFIG.python_version)
    .entrypoint([])
    .pip_install(*LLAMA_PIP_PACKAGES)
    .env(container_env(CONFIG))
)
for _local, _remote in LOCAL_SOURCES:
    image = image.add_local_dir(REPO_ROOT / _local, _remote, ignore=ignored_source)
models = modal.Volume.from_name(CONFIG.models_volume, create_if_missing=True)
secret = modal.Secret.from_name(CONFIG.secret_name)
app = modal.App(CONFIG.llama_app_name, include_source=False)

with image.imports():
    from modal_services.llama_keys import accepted_llama_keys
    from modal_services.llama_runtime import ensure_model, start_llama_server

_running: list[object] = []
"""Keeps the llama-server process object alive for the container's lifetime."""


@app.function(image=image, volumes={CONFIG.models_dir: models}, **download_function_options(CONFIG))
def download_model() -> str:
    """Put the GGUF into the volume unless it is there; says which."""
    path, downloaded = ensure_model(CONFIG, reload=models.reload, commit=models.commit)
    size_gb = path.stat().st_size / 1e9
    return f"{'downloaded' if downloaded else 'already present'}: {path} ({size_gb:.2f} GB)"


@app.function(
    image=image,
    volumes={CONFIG.models_dir: models},
    secrets=[secret],
    **llama_function_options(CONFIG),
)
@modal.concurrent(**llama_concurrency(CONFIG))
@modal.web_server(**llama_web_server_options(CONFIG))
def serve() -> None:
    """Start llama-server on the model in the volume; return once it is healthy."""
    ensure_model(CONFIG, reload=models.reload, commit=models.commit)
    _running.append(start_llama_server(CONFIG, api_keys=accepted_llama_keys()))
