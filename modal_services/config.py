"""Deployment knobs of the two Modal services, and everything they declare.

Every field is an environment variable `ORPHEUS_MODAL_<FIELD>` (a `.env` file is
read too), except `model_name`, which is the service's own `ORPHEUS_MODEL_NAME`.
The Modal modules take every argument they give Modal (GPU, volumes, secret,
concurrency, timeouts, scaling, the llama-server command line) from the
functions below, so tests check the declared configuration in plain Python,
without Modal credentials or network.

The deploy-time values reach the containers unchanged: `container_env()` is
baked into both images, so the module imported inside a container computes the
same configuration as the deploy that built it.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from modal_services.llama_keys import LLAMA_API_KEY
from orpheus_service.llama.server import LlamaServerConfig, build_llama_server_command
from unmute.tts.settings import settings_config

ENV_PREFIX = "ORPHEUS_MODAL_"

# Keys of the Modal Secret the TTS service reads (OrpheusSettings variables).
SECRET_LLAMA_ENDPOINT = "ORPHEUS_LLAMA_ENDPOINT"
"""Base URL of the deployed llama service."""
SECRET_API_KEY = "ORPHEUS_API_KEY"
"""Key clients of the TTS service must send."""
SECRET_LLAMA_API_KEY = LLAMA_API_KEY
"""Key between the TTS service and llama-server (rotation: see modal_services.llama_keys)."""

LLAMA_MODULE = "modal_services.orpheus_llama_modal"
TTS_MODULE = "modal_services.orpheus_fastapi_modal"
LLAMA_FUNCTION = "serve"
"""Name of the llama web-server function inside its app."""
DOWNLOAD_FUNCTION = "download_model"
"""Name of the function that puts the GGUF into the volume."""
TTS_CLASS = "OrpheusTTS"
"""Name of the TTS class inside its app."""
TTS_WEB_METHOD = "web"
"""Name of the TTS class's ASGI method."""

# GPU prices on Modal, USD per hour, at the time of writing (May 2026); approximate.
GPU_PRICES_USD_PER_HOUR = {
    "T4": 0.59,
    "L4": 0.80,
    "A10": 1.10,
    "L40S": 1.95,
    "A100-80GB": 2.50,
    "H100": 3.95,
}


class ModalDeployConfig(BaseSettings):
    """Deployment settings of the Orpheus services on Modal (`ORPHEUS_MODAL_*`)."""

    model_config = settings_config(ENV_PREFIX, populate_by_name=True)

    # Names
    llama_app_name: str = "orpheus-llama-cpp"
    """Modal app of the llama.cpp server (ORPHEUS_MODAL_LLAMA_APP_NAME)."""
    tts_app_name: str = "orpheus-fastapi-tts"
    """Modal app of the TTS service (ORPHEUS_MODAL_TTS_APP_NAME)."""
    secret_name: str = "orpheus-tts"
    """Modal Secret holding the llama URL and the API keys (ORPHEUS_MODAL_SECRET_NAME)."""
    models_volume: str = "orpheus-models"
    """Modal Volume the GGUF is downloaded into once (ORPHEUS_MODAL_MODELS_VOLUME)."""
    models_dir: str = "/models"
    """Where the volume is mounted in the llama container (ORPHEUS_MODAL_MODELS_DIR)."""

    # GPUs
    llama_gpu: str = "L40S"
    """GPU of the llama.cpp server (ORPHEUS_MODAL_LLAMA_GPU)."""
    tts_gpu: str = "L4"
    """GPU of the TTS service, which runs SNAC (ORPHEUS_MODAL_TTS_GPU)."""

    # Model
    model_name: str = Field(
        default="Orpheus-3b-FT-Q8_0.gguf",
        validation_alias="ORPHEUS_MODEL_NAME",
    )
    """GGUF file of the Orpheus model (ORPHEUS_MODEL_NAME, shared with the service)."""
    model_repo: str = "lex-au/Orpheus-3b-FT-Q8_0.gguf"
    """Hugging Face repository holding `model_name` (ORPHEUS_MODAL_MODEL_REPO)."""
    model_revision: str | None = None
    """Pin of the model repository: a commit or tag (ORPHEUS_MODAL_MODEL_REVISION)."""
    snac_repo: str = "hubertsiuzdak/snac_24khz"
    """SNAC weights baked into the TTS image at build time (ORPHEUS_MODAL_SNAC_REPO)."""
    snac_dir: str = "/opt/snac_24khz"
    """Where the SNAC weights lie in the TTS image (ORPHEUS_MODAL_SNAC_DIR)."""

    # TTS image: torch
    torch_version: str = Field(default="2.13.0", pattern=r"^\d+\.\d+\.\d+$")
    """torch of the TTS image (ORPHEUS_MODAL_TORCH_VERSION), the version the tests run."""
    torch_cuda: str = Field(default="cu128", pattern=r"^cu\d{3}$")
    """CUDA build of that torch (ORPHEUS_MODAL_TORCH_CUDA), from PyTorch's index for it.

    cu128 (CUDA 12.8) runs on any driver of the 12.x series from 525 on (CUDA's
    minor-version compatibility) and carries sm_89 kernels for the L4 (and L40S).
    The torch on PyPI is a CUDA 13 build, which needs driver 580 or newer: the
    build is chosen here, not left to whichever wheel pip finds."""

    # llama-server
    llama_image: str = "ghcr.io/ggml-org/llama.cpp:server-cuda-b11206"
    """llama.cpp's official CUDA 12 server image at one build (ORPHEUS_MODAL_LLAMA_IMAGE).

    Pinned: the floating `server-cuda` tag would change the server under a redeploy.
    To move it, pick a build tag `server-cuda-b<N>` of ghcr.io/ggml-org/llama.cpp
    (one per llama.cpp release), run the llama tests against that build, set it here
    or in the variable, and redeploy."""
    llama_binary: str = "/app/llama-server"
    """Path of llama-server inside that image (ORPHEUS_MODAL_LLAMA_BINARY)."""
    llama_port: int = Field(default=8080, ge=1, le=65535)
    """Port llama-server listens on in its container (ORPHEUS_MODAL_LLAMA_PORT)."""
    parallel_slots: int = Field(default=32, ge=1, le=256)
    """Concurrent generations per llama container (ORPHEUS_MODAL_PARALLEL_SLOTS)."""
    ctx_per_slot: int = Field(default=2048, ge=512)
    """Context tokens per slot: prompt plus the ORPHEUS_MAX_TOKENS budget
    (ORPHEUS_MODAL_CTX_PER_SLOT); the server's context is slots x this."""
    llama_startup_timeout_s: int = Field(default=900, ge=30)
    """Longest container start: model download on the first start, load, /health
    (ORPHEUS_MODAL_LLAMA_STARTUP_TIMEOUT_S)."""
    llama_timeout_s: int = Field(default=600, ge=10)
    """Longest single request to the llama service (ORPHEUS_MODAL_LLAMA_TIMEOUT_S)."""
    llama_scaledown_window_s: int = Field(default=300, ge=2, le=3600)
    """Idle seconds before a llama container stops (ORPHEUS_MODAL_LLAMA_SCALEDOWN_WINDOW_S)."""
    llama_min_containers: int = Field(default=0, ge=0)
    """llama containers kept warm; each costs GPU time around the clock
    (ORPHEUS_MODAL_LLAMA_MIN_CONTAINERS)."""
    llama_max_containers: int | None = Field(default=None, ge=1)
    """Cap on llama containers, unset for no cap (ORPHEUS_MODAL_LLAMA_MAX_CONTAINERS)."""

    # TTS service
    tts_max_sessions: int = Field(default=32, ge=1)
    """Synthesis sessions per TTS container; becomes the container's
    ORPHEUS_MAX_SESSIONS and the autoscaler's target (ORPHEUS_MODAL_TTS_MAX_SESSIONS)."""
    tts_max_inputs: int = Field(default=40, ge=1)
    """Hard cap of concurrent requests per TTS container (sessions plus health and
    metrics requests); at least tts_max_sessions (ORPHEUS_MODAL_TTS_MAX_INPUTS)."""
    tts_timeout_s: int = Field(default=1800, ge=10)
    """Longest request or WebSocket session (ORPHEUS_MODAL_TTS_TIMEOUT_S)."""
    tts_startup_timeout_s: int = Field(default=300, ge=30)
    """Longest container start, SNAC load included (ORPHEUS_MODAL_TTS_STARTUP_TIMEOUT_S)."""
    tts_scaledown_window_s: int = Field(default=300, ge=2, le=3600)
    """Idle seconds before a TTS container stops (ORPHEUS_MODAL_TTS_SCALEDOWN_WINDOW_S)."""
    tts_min_containers: int = Field(default=0, ge=0)
    """TTS containers kept warm (ORPHEUS_MODAL_TTS_MIN_CONTAINERS)."""
    tts_max_containers: int | None = Field(default=None, ge=1)
    """Cap on TTS containers, unset for no cap (ORPHEUS_MODAL_TTS_MAX_CONTAINERS)."""
    proxy_auth: bool = False
    """Also require Modal proxy auth (`Modal-Key` / `Modal-Secret` headers) on the
    TTS endpoint (ORPHEUS_MODAL_PROXY_AUTH). The `orpheus` backend sends them from
    ORPHEUS_MODAL_KEY / ORPHEUS_MODAL_SECRET; unmute's stock client cannot."""

    python_version: str = "3.11"
    """Python of both images (ORPHEUS_MODAL_PYTHON_VERSION)."""

    @field_validator(
        "llama_app_name",
        "tts_app_name",
        "secret_name",
        "models_volume",
        "model_name",
        "model_repo",
        "llama_gpu",
        "tts_gpu",
    )
    @classmethod
    def _not_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("models_dir", "snac_dir", "llama_binary")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must be an absolute path in the container, got {value!r}")
        return value.rstrip("/") or "/"

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.tts_max_inputs < self.tts_max_sessions:
            raise ValueError(
                f"{ENV_PREFIX}TTS_MAX_INPUTS={self.tts_max_inputs} must be at least "
                f"{ENV_PREFIX}TTS_MAX_SESSIONS={self.tts_max_sessions}"
            )
        if self.llama_app_name == self.tts_app_name:
            raise ValueError("the llama and TTS apps need different names")
        return self

    @classmethod
    def load(cls, **overrides: Any) -> ModalDeployConfig:
        """Read the settings; an invalid value raises `SettingsError` naming the variable."""
        from unmute.tts.settings import load_settings

        return load_settings(cls, **overrides)

    # -- derived values ------------------------------------------------------

    @property
    def ctx_size(self) -> int:
        """llama-server's total context (`-c`): every slot gets `ctx_per_slot`."""
        return self.parallel_slots * self.ctx_per_slot

    @property
    def model_path(self) -> str:
        """Where the GGUF lies in the llama container."""
        return f"{self.models_dir}/{self.model_name}"

    @property
    def llama_max_inputs(self) -> int:
        """Concurrent requests per llama container: one per slot, so a request never
        waits in a full container's queue while Modal could start another."""
        return self.parallel_slots


def container_env(config: ModalDeployConfig) -> dict[str, str]:
    """Environment that reproduces `config` inside a container (baked into both images)."""
    env: dict[str, str] = {}
    for name in ModalDeployConfig.model_fields:
        value = getattr(config, name)
        if value is None:
            continue
        key = "ORPHEUS_MODEL_NAME" if name == "model_name" else f"{ENV_PREFIX}{name.upper()}"
        env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _container_options(config: ModalDeployConfig, service: str) -> dict[str, Any]:
    """The container keywords (GPU, timeouts, scaling) of `service` ("llama" or "tts"),
    read from the config fields named `<service>_gpu`, `<service>_timeout_s`, ..."""

    def field(name: str) -> Any:
        return getattr(config, f"{service}_{name}")

    options: dict[str, Any] = {
        "gpu": field("gpu"),
        "timeout": field("timeout_s"),
        "startup_timeout": field("startup_timeout_s"),
        "scaledown_window": field("scaledown_window_s"),
        "min_containers": field("min_containers"),
    }
    if field("max_containers") is not None:
        options["max_containers"] = field("max_containers")
    return options


# -- llama service ----------------------------------------------------------


def llama_function_options(config: ModalDeployConfig) -> dict[str, Any]:
    """Keyword arguments of the llama service's `@app.function` (image and volume aside)."""
    return _container_options(config, "llama")


def llama_concurrency(config: ModalDeployConfig) -> dict[str, int]:
    """Arguments of the llama service's `@modal.concurrent`."""
    return {"max_inputs": config.llama_max_inputs}


def llama_web_server_options(config: ModalDeployConfig) -> dict[str, Any]:
    """Arguments of the llama service's `@modal.web_server`."""
    return {"port": config.llama_port, "startup_timeout": config.llama_startup_timeout_s}


def download_function_options(config: ModalDeployConfig) -> dict[str, Any]:
    """Keyword arguments of the model download function (no GPU: it only downloads)."""
    return {"timeout": 3600}


# -- TTS service --------------------------------------------------------------


def tts_cls_options(config: ModalDeployConfig) -> dict[str, Any]:
    """Keyword arguments of the TTS service's `@app.cls` (image and secret aside)."""
    return _container_options(config, "tts")


def tts_concurrency(config: ModalDeployConfig) -> dict[str, int]:
    """Arguments of the TTS service's `@modal.concurrent`.

    Every WebSocket session and HTTP request is one Modal input; without this each
    would get a container of its own and no decode batching would happen. The
    autoscaler aims at `tts_max_sessions` per container; health and metrics
    requests may burst up to `tts_max_inputs`.
    """
    return {"max_inputs": config.tts_max_inputs, "target_inputs": config.tts_max_sessions}


def tts_asgi_options(config: ModalDeployConfig) -> dict[str, Any]:
    """Arguments of the TTS service's `@modal.asgi_app`."""
    return {"requires_proxy_auth": config.proxy_auth}


# -- llama-server command line ------------------------------------------------------------


def llama_server_config(
    config: ModalDeployConfig, *, api_key_file: str | None, host: str = "0.0.0.0"
) -> LlamaServerConfig:
    """The `LlamaServerConfig` deployed: all layers on the GPU, one slot per stream,
    `ctx_per_slot` tokens of context for each, reachable from outside the container
    (`host` is only changed by tests, which bind 127.0.0.1)."""
    return LlamaServerConfig(
        model_path=config.model_path,
        host=host,
        port=config.llama_port,
        n_gpu_layers=999,
        parallel=config.parallel_slots,
        ctx_size=config.ctx_size,
        cont_batching=True,
        metrics=True,
        alias=config.model_name,
        api_key_file=api_key_file,
    )


def llama_server_command(config: ModalDeployConfig, *, api_key_file: str | None) -> list[str]:
    """The llama-server argv the llama container runs (built by the one shared builder)."""
    return build_llama_server_command(
        config.llama_binary, llama_server_config(config, api_key_file=api_key_file)
    )
