"""The two Modal modules: they import without credentials or network and declare
the configuration of modal_services/config.py, checked on the Modal objects."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from modal_services.config import ModalDeployConfig
from orpheus_service.llama.server import LlamaServerConfig, build_llama_server_command
from tests.modal_services.helpers import clean_env, run_python

DECLARED = """
import json, socket

def no_network(*args, **kwargs):
    raise OSError("network used while importing a Modal module")

socket.socket.connect = no_network
socket.create_connection = no_network
socket.getaddrinfo = no_network

import modal_services.orpheus_llama_modal as llama
import modal_services.orpheus_fastapi_modal as tts
from modal._utils.async_utils import synchronizer

def public(info):
    return {
        "gpus": info.gpus,
        "timeout": info.timeout,
        "startup_timeout": info.startup_timeout,
        "max_inputs": info.concurrency_info and info.concurrency_info.max_inputs,
        "target_inputs": info.concurrency_info and info.concurrency_info.target_inputs,
        "volumes": {path: mount.name for path, mount in info.volumes.items()},
        "secrets": info.secrets,
        "web": info.web_info and not info.web_info.unauthenticated,
        "methods": {
            name: not web.unauthenticated for name, web in (info.method_details or {}).items()
        },
    }

service = synchronizer._translate_in(tts.OrpheusTTS)._get_class_service_function()
print(json.dumps({
    "serve": public(llama.serve.info()),
    "download": public(llama.download_model.info()),
    "tts": public(synchronizer._translate_out(service).info()),
}))
"""


def declared(home: Path, **env: str) -> dict[str, Any]:
    """What the two modules declare, imported in a clean process with no network."""
    result = run_python(["-c", DECLARED], clean_env(home, **env))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_modules_import_without_credentials_or_network_and_declare_the_defaults(
    tmp_path: Path,
) -> None:
    d = declared(tmp_path)
    secret = ["modal.Secret.from_name('orpheus-tts')"]
    assert d["serve"] == {
        "gpus": [["L40S", 1]],
        "timeout": 600,
        "startup_timeout": 900,
        "max_inputs": 32,
        "target_inputs": None,
        "volumes": {"/models": "orpheus-models"},
        "secrets": secret,
        "web": False,
        "methods": {},
    }
    assert d["download"]["gpus"] == []
    assert d["download"]["volumes"] == {"/models": "orpheus-models"}
    assert d["tts"] == {
        "gpus": [["L4", 1]],
        "timeout": 1800,
        "startup_timeout": 300,
        "max_inputs": 40,
        "target_inputs": 32,
        "volumes": {},
        "secrets": secret,
        "web": None,
        "methods": {"web": False},
    }


def test_deploy_time_settings_change_what_the_modules_declare(tmp_path: Path) -> None:
    d = declared(
        tmp_path,
        ORPHEUS_MODAL_LLAMA_GPU="H100",
        ORPHEUS_MODAL_TTS_GPU="A10",
        ORPHEUS_MODAL_PARALLEL_SLOTS="8",
        ORPHEUS_MODAL_TTS_MAX_SESSIONS="16",
        ORPHEUS_MODAL_TTS_MAX_INPUTS="20",
        ORPHEUS_MODAL_SECRET_NAME="other-secret",
        ORPHEUS_MODAL_MODELS_VOLUME="other-volume",
        ORPHEUS_MODAL_PROXY_AUTH="true",
    )
    assert d["serve"]["gpus"] == [["H100", 1]]
    assert d["serve"]["max_inputs"] == 8
    assert d["serve"]["volumes"] == {"/models": "other-volume"}
    assert d["tts"]["gpus"] == [["A10", 1]]
    assert (d["tts"]["max_inputs"], d["tts"]["target_inputs"]) == (20, 16)
    assert d["tts"]["secrets"] == ["modal.Secret.from_name('other-secret')"]
    assert d["tts"]["methods"] == {"web": True}  # proxy auth required


@pytest.fixture(scope="module")
def modules() -> tuple[Any, Any]:
    import modal_services.orpheus_fastapi_modal as tts
    import modal_services.orpheus_llama_modal as llama

    return llama, tts


def test_llama_web_server_waits_for_the_model_load_on_its_port(modules: tuple[Any, Any]) -> None:
    from modal._utils.async_utils import synchronizer

    llama, _ = modules
    webhook = getattr(synchronizer._translate_in(llama.serve), "_webhook_config", None)
    if webhook is None:
        pytest.skip("this modal version does not expose a function's web server settings")
    options = cfg.llama_web_server_options(llama.CONFIG)
    assert webhook.web_server_port == options["port"] == llama.CONFIG.llama_port
    assert webhook.web_server_startup_timeout == options["startup_timeout"]
    assert options["startup_timeout"] == llama.CONFIG.llama_startup_timeout_s


def test_tts_class_loads_at_enter_and_serves_an_asgi_app(modules: tuple[Any, Any]) -> None:
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer
    from modal_proto import api_pb2

    _, tts = modules
    cls: Any = synchronizer._translate_in(tts.OrpheusTTS)
    partials = cls._get_partial_functions()
    assert set(partials) == {"load", "web"}
    webhook = partials["web"].params.webhook_config
    assert webhook is not None and webhook.type == api_pb2.WEBHOOK_TYPE_ASGI_APP
    assert partials["load"].flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT
    assert webhook.requires_proxy_auth is tts.CONFIG.proxy_auth


def test_apps_are_named_by_the_config(modules: tuple[Any, Any]) -> None:
    llama, tts = modules
    assert llama.app.name == llama.CONFIG.llama_app_name
    assert tts.app.name == tts.CONFIG.tts_app_name


def test_deployed_llama_command_is_the_shared_builders(no_modal_env: Path) -> None:
    from modal_services.llama_runtime import llama_process

    config = ModalDeployConfig()
    expected = build_llama_server_command(
        "/app/llama-server",
        LlamaServerConfig(
            model_path="/models/Orpheus-3b-FT-Q8_0.gguf",
            host="0.0.0.0",
            port=8080,
            n_gpu_layers=999,
            parallel=32,
            ctx_size=32 * 2048,
            metrics=True,
            alias="Orpheus-3b-FT-Q8_0.gguf",
            api_key_file="/tmp/keys",
        ),
    )
    process = llama_process(config, api_key_file="/tmp/keys")
    assert process.command == expected
    assert cfg.llama_server_command(config, api_key_file="/tmp/keys") == expected
    pairs = set(itertools.pairwise(expected))
    assert {("-ngl", "999"), ("-np", "32"), ("-c", "65536"), ("--host", "0.0.0.0")} <= pairs
