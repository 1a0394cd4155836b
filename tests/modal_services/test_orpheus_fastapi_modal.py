"""The TTS Modal module: it imports without credentials or network and declares the
configuration of modal_services/config.py, checked on the Modal objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.modal_services.modal_declared import declared


def test_tts_class_declares_the_defaults_without_credentials_or_network(tmp_path: Path) -> None:
    assert declared(tmp_path)["tts"] == {
        "gpus": [["L4", 1]],
        "timeout": 1800,
        "startup_timeout": 300,
        "max_inputs": 40,
        "target_inputs": 32,
        "volumes": {},
        "secrets": ["modal.Secret.from_name('orpheus-tts')"],
        "web": None,
        "methods": {"web": False},
    }


def test_deploy_time_settings_change_what_the_tts_class_declares(tmp_path: Path) -> None:
    d = declared(
        tmp_path,
        ORPHEUS_MODAL_TTS_GPU="A10",
        ORPHEUS_MODAL_TTS_MAX_SESSIONS="16",
        ORPHEUS_MODAL_TTS_MAX_INPUTS="20",
        ORPHEUS_MODAL_SECRET_NAME="other-secret",
        ORPHEUS_MODAL_PROXY_AUTH="true",
    )
    assert d["tts"]["gpus"] == [["A10", 1]]
    assert (d["tts"]["max_inputs"], d["tts"]["target_inputs"]) == (20, 16)
    assert d["tts"]["secrets"] == ["modal.Secret.from_name('other-secret')"]
    assert d["tts"]["methods"] == {"web": True}  # proxy auth required


@pytest.fixture(scope="module")
def tts() -> Any:
    import modal_services.orpheus_fastapi_modal as module

    return module


def test_tts_class_loads_at_enter_and_serves_an_asgi_app(tts: Any) -> None:
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer
    from modal_proto import api_pb2

    cls: Any = synchronizer._translate_in(tts.OrpheusTTS)
    partials = cls._get_partial_functions()
    assert set(partials) == {"load", "web"}
    webhook = partials["web"].params.webhook_config
    assert webhook is not None and webhook.type == api_pb2.WEBHOOK_TYPE_ASGI_APP
    assert partials["load"].flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT
    assert webhook.requires_proxy_auth is tts.CONFIG.proxy_auth


def test_app_is_named_by_the_config(tts: Any) -> None:
    assert tts.app.name == tts.CONFIG.tts_app_name
