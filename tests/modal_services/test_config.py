"""The deployment settings (`ORPHEUS_MODAL_*`) and what they make the services declare,
in plain Python: no Modal credentials, no network."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from modal_services import config as cfg
from modal_services import images
from modal_services.config import ModalDeployConfig
from tests.modal_services.helpers import ROOT


def test_defaults_put_llama_on_l40s_and_the_service_on_l4(no_modal_env: Path) -> None:
    config = ModalDeployConfig()
    assert config.llama_gpu == "L40S"
    assert config.tts_gpu == "L4"
    assert config.model_name == "Orpheus-3b-FT-Q8_0.gguf"
    assert config.model_repo == "lex-au/Orpheus-3b-FT-Q8_0.gguf"


def test_model_name_is_the_services_orpheus_model_name_variable(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_MODEL_NAME", "Orpheus-3b-FT-Q4_K_M.gguf")
    config = ModalDeployConfig()
    assert config.model_name == "Orpheus-3b-FT-Q4_K_M.gguf"
    assert config.model_path == "/models/Orpheus-3b-FT-Q4_K_M.gguf"


def test_context_is_sized_for_every_parallel_stream(no_modal_env: Path) -> None:
    config = ModalDeployConfig(parallel_slots=16, ctx_per_slot=4096)
    assert config.ctx_size == 16 * 4096
    assert cfg.llama_concurrency(config) == {"max_inputs": 16}


def test_scaling_settings_reach_the_declared_options(no_modal_env: Path) -> None:
    config = ModalDeployConfig(
        llama_scaledown_window_s=120,
        llama_min_containers=1,
        llama_max_containers=3,
        tts_scaledown_window_s=60,
        tts_min_containers=2,
    )
    llama = cfg.llama_function_options(config)
    tts = cfg.tts_cls_options(config)
    assert llama["scaledown_window"] == 120
    assert llama["min_containers"] == 1
    assert llama["max_containers"] == 3
    assert tts["scaledown_window"] == 60
    assert tts["min_containers"] == 2
    assert "max_containers" not in tts


def test_tts_concurrency_targets_the_session_limit_and_caps_inputs(no_modal_env: Path) -> None:
    config = ModalDeployConfig(tts_max_sessions=24, tts_max_inputs=30)
    assert cfg.tts_concurrency(config) == {"max_inputs": 30, "target_inputs": 24}
    assert images.tts_service_env(config)["ORPHEUS_MAX_SESSIONS"] == "24"


def test_fewer_inputs_than_sessions_is_an_error_naming_both_variables(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_MODAL_TTS_MAX_INPUTS", "8")
    with pytest.raises(ValueError, match=r"ORPHEUS_MODAL_TTS_MAX_INPUTS=8.*TTS_MAX_SESSIONS=32"):
        ModalDeployConfig.load()


def test_container_env_reproduces_the_deploy_time_config(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ModalDeployConfig(
        llama_gpu="H100",
        parallel_slots=8,
        proxy_auth=True,
        model_name="x.gguf",
        llama_max_containers=2,
    )
    for key, value in cfg.container_env(config).items():
        monkeypatch.setenv(key, value)
    assert ModalDeployConfig() == config


def test_proxy_auth_flag_is_declared_on_the_asgi_app(no_modal_env: Path) -> None:
    assert cfg.tts_asgi_options(ModalDeployConfig()) == {"requires_proxy_auth": False}
    assert cfg.tts_asgi_options(ModalDeployConfig(proxy_auth=True)) == {"requires_proxy_auth": True}


def test_service_image_installs_every_service_and_core_requirement() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = [*project["dependencies"], *project["optional-dependencies"]["service"]]

    def name(requirement: str) -> str:
        for sep in "<>=!~[; ":
            requirement = requirement.split(sep)[0]
        return requirement.lower().replace("_", "-")

    installed = {name(r) for r in images.TTS_PIP_PACKAGES} | {"torch"}  # torch: its own step
    assert {name(r) for r in required} <= installed


def test_snac_weights_are_baked_into_the_folder_the_service_loads(no_modal_env: Path) -> None:
    config = ModalDeployConfig(snac_dir="/opt/snac")
    assert '"/opt/snac"' in images.snac_bake_command(config)
    assert images.tts_service_env(config)["ORPHEUS_SNAC_MODEL"] == "/opt/snac"
    assert images.tts_service_env(config)["ORPHEUS_SNAC_DEVICE"] == "cuda"


def test_torch_is_one_version_of_one_cuda_build(no_modal_env: Path) -> None:
    config = ModalDeployConfig()
    assert images.torch_requirement(config) == "torch==2.13.0+cu128"
    assert images.torch_index_url(config) == "https://download.pytorch.org/whl/cu128"
    moved = ModalDeployConfig(torch_version="2.14.1", torch_cuda="cu126")
    assert images.torch_requirement(moved) == "torch==2.14.1+cu126"


def test_a_torch_build_that_is_not_a_cuda_tag_is_an_error_naming_the_variable(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_MODAL_TORCH_CUDA", "cuda12")
    with pytest.raises(ValueError, match="ORPHEUS_MODAL_TORCH_CUDA"):
        ModalDeployConfig.load()


def test_the_tested_torch_is_the_one_the_image_installs() -> None:
    import torch

    assert torch.__version__.split("+")[0] == ModalDeployConfig.model_construct().torch_version


def test_the_llama_image_is_pinned_to_a_build(no_modal_env: Path) -> None:
    image = ModalDeployConfig().llama_image
    assert image.startswith("ghcr.io/ggml-org/llama.cpp:server-cuda-b")
    assert image.rsplit("-b", 1)[1].isdigit()
