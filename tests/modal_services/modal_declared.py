"""What the two Modal modules declare (GPUs, timeouts, volumes, secrets, web endpoints),
read from the Modal objects in a clean process that has neither credentials nor network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
