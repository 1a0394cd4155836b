"""The llama Modal module: it imports without credentials or network and declares the
configuration of modal_services/config.py, checked on the Modal objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from tests.modal_services.modal_declared import declared

SECRET = ["modal.Secret.from_name('orpheus-tts')"]


def test_server_and_download_declare_the_defaults_without_credentials_or_network(
    tmp_path: Path,
) -> None:
    d = declared(tmp_path)
    assert d["serve"] == {
        "gpus": [["L40S", 1]],
        "timeout": 600,
        "startup_timeout": 900,
        "max_inputs": 32,
        "target_inputs": None,
        "volumes": {"/models": "orpheus-models"},
        "secrets": SECRET,
        "web": False,
        "methods": {},
    }
    assert d["download"]["gpus"] == []
    assert d["download"]["volumes"] == {"/models": "orpheus-models"}


def test_deploy_time_settings_change_what_the_server_declares(tmp_path: Path) -> None:
    d = declared(
        tmp_path,
        ORPHEUS_MODAL_LLAMA_GPU="H100",
        ORPHEUS_MODAL_PARALLEL_SLOTS="8",
        ORPHEUS_MODAL_MODELS_VOLUME="other-volume",
    )
    assert d["serve"]["gpus"] == [["H100", 1]]
    assert d["serve"]["max_inputs"] == 8
    assert d["serve"]["volumes"] == {"/models": "other-volume"}


@pytest.fixture(scope="module")
def llama() -> Any:
    import modal_services.orpheus_llama_modal as module

    return module


def test_web_server_waits_for_the_model_load_on_its_port(llama: Any) -> None:
    from modal._utils.async_utils import synchronizer

    webhook = getattr(synchronizer._translate_in(llama.serve), "_webhook_config", None)
    if webhook is None:
        pytest.skip("this modal version does not expose a function's web server settings")
    options = cfg.llama_web_server_options(llama.CONFIG)
    assert webhook.web_server_port == options["port"] == llama.CONFIG.llama_port
    assert webhook.web_server_startup_timeout == options["startup_timeout"]
    assert options["startup_timeout"] == llama.CONFIG.llama_startup_timeout_s


def test_app_is_named_by_the_config(llama: Any) -> None:
    assert llama.app.name == llama.CONFIG.llama_app_name
