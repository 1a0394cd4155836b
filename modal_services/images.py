"""What the two Modal images hold, in plain Python (tests build the same in a fresh venv).

- The project's own source folders (`LOCAL_SOURCES`), the same in both images.
- The llama image: llama.cpp's CUDA server image (`ModalDeployConfig.llama_image`,
  pinned to a build) plus `LLAMA_PIP_PACKAGES`.
- The TTS image: Debian slim, torch of one CUDA build first (`torch_requirement`
  from `torch_index_url`), then `TTS_PIP_PACKAGES`, then the SNAC weights baked at
  `snac_dir` (`snac_bake_command`), then the service's environment
  (`tts_service_env`).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from modal_services.config import ModalDeployConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The project's folder on the deploying machine."""
LOCAL_SOURCES = (
    ("unmute/tts", "/root/unmute/tts"),
    ("orpheus_service", "/root/orpheus_service"),
    ("modal_services", "/root/modal_services"),
)
"""(folder of this project, path in the container) added to both images.

Folders, not `add_local_python_source("unmute")`: `unmute` is a namespace package,
and Modal would mount every `unmute` folder on this machine's path (an installed
upstream unmute included). `/root` is on the containers' Python path, and
`unmute/tts` stays a namespace portion there too (no `__init__.py`)."""


def ignored_source(path: Path) -> bool:
    """Files of the source folders the images leave out (`path` relative to the folder):
    bytecode, caches, dot-files."""
    return path.suffix == ".pyc" or any(
        part == "__pycache__" or part.startswith(".") for part in path.parts
    )


LLAMA_PIP_PACKAGES = (
    "pydantic>=2.7",
    "pydantic-settings>=2.3",
    "huggingface_hub>=0.24",
)
"""What the llama image installs besides llama-server: the config and the model download.

A test installs exactly this list into a fresh virtual environment and runs the llama
function's body there, up to starting a stand-in llama-server."""

TORCH_INDEX_URL = "https://download.pytorch.org/whl/{cuda}"
"""PyTorch's wheel index of one CUDA build."""
PYPI_INDEX_URL = "https://pypi.org/simple"
"""Where torch's own dependencies (nvidia-*, triton, sympy, ...) come from."""

TTS_PIP_PACKAGES = (
    "snac>=1.2.1",
    "fastapi>=0.110",
    "uvicorn>=0.29",
    "httpx>=0.27",
    "av>=12",
    "pysbd>=0.3.4",
    "aiolimiter>=1.1",
    "prometheus-client>=0.20",
    "espeakng-loader>=0.2.4",  # word times: espeak-ng's reading aligned to the audio
    "soxr>=0.4",
    "websockets>=13",
    "msgpack>=1.0",
    "numpy>=1.26",
    "pydantic>=2.7",
    "pydantic-settings>=2.3",
    "huggingface_hub>=0.24",
)
"""The service image's packages after torch (`torch_requirement`, installed first):
the `service` extra, the core dependencies and the hub client.

Tests check that this covers every requirement of the `service` extra and the core
dependencies in pyproject.toml, and run the TTS class's enter and web app in a fresh
virtual environment holding exactly this list.
"""


def tts_service_env(config: ModalDeployConfig) -> dict[str, str]:
    """ORPHEUS_* settings of the service in its container (the Secret adds the rest)."""
    return {
        "ORPHEUS_SNAC_MODEL": config.snac_dir,
        "ORPHEUS_SNAC_DEVICE": "cuda",
        "ORPHEUS_MAX_SESSIONS": str(config.tts_max_sessions),
        "ORPHEUS_MODEL_NAME": config.model_name,
    }


SNAC_FILES = ("config.json", "pytorch_model.bin")
"""What `SNAC.from_pretrained` reads from a folder."""


def snac_bake_command(config: ModalDeployConfig) -> str:
    """Shell command run at image build time that puts the SNAC weights in `snac_dir`.

    One line: Modal writes each `run_commands` string as one Dockerfile `RUN`
    instruction, so a line break would end the instruction."""
    files = ", ".join(json.dumps(name) for name in SNAC_FILES)
    script = (
        "from huggingface_hub import hf_hub_download; "
        f"[hf_hub_download(repo_id={json.dumps(config.snac_repo)}, filename=name, "
        f"local_dir={json.dumps(config.snac_dir)}) for name in ({files})]"
    )
    return f"python -c {shlex.quote(script)}"


def torch_requirement(config: ModalDeployConfig) -> str:
    """The TTS image's torch: one version of one CUDA build (`torch==2.13.0+cu128`)."""
    return f"torch=={config.torch_version}+{config.torch_cuda}"


def torch_index_url(config: ModalDeployConfig) -> str:
    """PyTorch's wheel index of `torch_cuda`."""
    return TORCH_INDEX_URL.format(cuda=config.torch_cuda)
