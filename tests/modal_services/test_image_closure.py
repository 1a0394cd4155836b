"""Each container starts with exactly what its image installs.

Each test builds a fresh virtual environment holding exactly the image's package
list (resolved from PyPI as the image build resolves it: see closure.py), copies
exactly the files Modal mounts into a folder laid out as the container's `/`, sets
the environment the image's ENV steps and the Secret set, and runs the container's
real entry path there, as far as a CPU allows:

- llama: the `serve` function's body (model check, keys, `start_llama_server`) up
  to starting a stand-in `llama-server` (standin_llama_server.py) that records its
  command line and keys and answers /health.
- TTS: the class's `@modal.enter` and `web()`, found as Modal's container finds
  them, with a random SNAC at the baked path, served by uvicorn, answering /health.
  Substitution: the image installs `torch==<version>+cu128` from PyTorch's CUDA
  index; this machine has no GPU and no network path to that index, so the venv gets
  the same torch version's CPU wheel from this disk (/opt/wheels), and SNAC runs on
  the CPU (ORPHEUS_SNAC_DEVICE=cpu instead of the image's cuda). Every other package
  is the image's list.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modal_services.images import LLAMA_PIP_PACKAGES, TTS_PIP_PACKAGES
from orpheus_service.llama.server import free_port
from tests.modal_services.closure import image_venv
from tests.modal_services.helpers import ROOT, build_layers, copy_mounted_files, parse_dockerfile

pytestmark = pytest.mark.slow

STANDIN = Path(__file__).with_name("standin_llama_server.py")
LOCAL_TORCH = Path("/opt/wheels")


def fresh_module(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the Modal module `name` anew with the deploy-time `env`."""
    for key in list(os.environ):
        if key.startswith(("ORPHEUS_", "MODAL_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, name, raising=False)  # restored after the test
    module = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, module)  # removed after the test
    return module


def image_env(image: Any) -> dict[str, str]:
    """The variables the image's ENV steps set, read from Modal's Dockerfile lines."""
    env: dict[str, str] = {}
    for layer in build_layers(image):
        env.update(parse_dockerfile(layer.commands).envs)
    return env


def standin_binary(folder: Path) -> Path:
    """An executable `llama-server` that runs the stand-in with this Python."""
    binary = folder / "llama-server"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
    binary.chmod(0o755)
    return binary


def container_run(
    python: Path, root: Path, script: str, env: dict[str, str], tmp: Path
) -> subprocess.CompletedProcess[str]:
    """Run `script` with the image's venv in the copied container folder (cwd /root)."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "TMPDIR": str(tmp)}
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(script)],
        cwd=root,
        env={**base, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


LLAMA_ENTRY = """
import json, os, time, urllib.error, urllib.request
from modal._utils.async_utils import synchronizer
import modal_services.orpheus_llama_modal as llama

missing = synchronizer._translate_in(llama.image).inside_exceptions
assert not missing, missing  # imports that failed in `with image.imports()`
llama.serve.local()  # the function's body, as the container runs it
process = llama._running[0]

def status(headers):
    request = urllib.request.Request(process.base_url + "/completion", data=b"{}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code

with urllib.request.urlopen(process.base_url + "/health", timeout=5) as response:
    health = response.status
answers = {k: status({"Authorization": "Bearer " + k}) for k in ("key-1", "key-2", "nope")}
print(json.dumps({"health": health, "answers": answers}), flush=True)
process.stop()
time.sleep(10)  # the watchdog ends the container once llama-server is gone
"""


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [
        ({"ORPHEUS_LLAMA_API_KEY": "key-1"}, ["key-1"]),
        (
            {"ORPHEUS_LLAMA_API_KEY": "key-1", "ORPHEUS_LLAMA_NEXT_API_KEY": "key-2"},
            ["key-1", "key-2"],
        ),
    ],
    ids=["one-key", "rotating"],
)
def test_llama_container_serves_with_only_its_images_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: dict[str, str], accepted: list[str]
) -> None:
    python = image_venv("llama", [list(LLAMA_PIP_PACKAGES)])
    models = tmp_path / "models"
    models.mkdir()
    (models / "orpheus.gguf").write_bytes(b"GGUF stand-in")
    deploy_env = {
        "ORPHEUS_MODAL_LLAMA_BINARY": str(standin_binary(tmp_path)),
        "ORPHEUS_MODAL_MODELS_DIR": str(models),
        "ORPHEUS_MODEL_NAME": "orpheus.gguf",
        "ORPHEUS_MODAL_LLAMA_PORT": str(free_port()),
        "ORPHEUS_MODAL_LLAMA_STARTUP_TIMEOUT_S": "30",
    }
    module = fresh_module("modal_services.orpheus_llama_modal", deploy_env, monkeypatch)
    root = copy_mounted_files(module.image, tmp_path / "container")
    record = tmp_path / "record.json"
    env = {**image_env(module.image), **secret, "STANDIN_RECORD": str(record)}

    done = container_run(python, root, LLAMA_ENTRY, env, tmp_path)

    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["health"] == 200
    assert result["answers"] == {k: (200 if k in accepted else 401) for k in result["answers"]}
    started = json.loads(record.read_text())
    assert started["keys"] == accepted
    argv = started["argv"][1:]
    assert argv[argv.index("-m") + 1] == str(models / "orpheus.gguf")
    assert argv[argv.index("--api-key-file") + 1] == str(tmp_path / "llama-api-keys")
    assert done.returncode == 1 and "stopping the container" in done.stdout


@pytest.fixture
def standin_llama(tmp_path: Path) -> Iterator[str]:
    """The stand-in llama-server on a free port, as the TTS service's llama endpoint."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(STANDIN), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from unmute.tts.health import poll_health

        poll_health(f"http://127.0.0.1:{port}/health", timeout_s=20, interval_s=0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


TTS_ENTRY = """
import asyncio, inspect, json, threading, urllib.request
import uvicorn
from modal._partial_function import _find_callables_for_obj, _PartialFunctionFlags
from modal._utils.async_utils import synchronizer
import modal_services.orpheus_fastapi_modal as tts

missing = synchronizer._translate_in(tts.image).inside_exceptions
assert not missing, missing  # imports that failed in `with image.imports()`
user_cls = synchronizer._translate_in(tts.OrpheusTTS)._user_cls
instance = user_cls()
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()

def call(function):
    result = function()
    if inspect.isawaitable(result):
        result = asyncio.run_coroutine_threadsafe(result, loop).result(180)
    return result

for enter in _find_callables_for_obj(instance, _PartialFunctionFlags.ENTER_POST_SNAPSHOT).values():
    call(enter)
(web,) = _find_callables_for_obj(instance, _PartialFunctionFlags.WEB_INTERFACE).values()
server = uvicorn.Server(uvicorn.Config(call(web), host="127.0.0.1", port=PORT, log_level="warning"))
serving = asyncio.run_coroutine_threadsafe(server.serve(), loop)
for _ in range(200):
    if server.started:
        break
    threading.Event().wait(0.05)
try:
    with urllib.request.urlopen("http://127.0.0.1:PORT/health", timeout=30) as response:
        print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
finally:
    server.should_exit = True
    serving.result(30)
"""


def test_tts_container_enters_and_serves_health_with_only_its_images_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_snac_dir: Path, standin_llama: str
) -> None:
    from modal_services.config import ModalDeployConfig

    torch = f"torch=={ModalDeployConfig.model_construct().torch_version}"
    wheel = next(LOCAL_TORCH.glob(f"{torch.replace('==', '-')}+cpu-*.whl"), None)
    if wheel is None:
        pytest.skip(f"no CPU wheel of {torch} in {LOCAL_TORCH}")
    python = image_venv("tts", [[str(wheel)], list(TTS_PIP_PACKAGES)])
    module = fresh_module(
        "modal_services.orpheus_fastapi_modal",
        {"ORPHEUS_MODAL_SNAC_DIR": str(small_snac_dir)},
        monkeypatch,
    )
    root = copy_mounted_files(module.image, tmp_path / "container")
    env = {
        **image_env(module.image),
        "ORPHEUS_LLAMA_ENDPOINT": standin_llama,
        "ORPHEUS_API_KEY": "client-key",
        "ORPHEUS_LLAMA_API_KEY": "llama-key",
        "ORPHEUS_SNAC_DEVICE": "cpu",  # the image says cuda; this machine has no GPU
    }
    assert env["ORPHEUS_SNAC_MODEL"] == str(small_snac_dir)  # the baked path

    port = str(free_port())
    done = container_run(python, root, TTS_ENTRY.replace("PORT", port), env, tmp_path)

    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["status"] == 200
    assert result["body"]["snac"] == "loaded" and result["body"]["llama"] == "ok"


def test_each_image_carries_this_projects_sources_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.modal_services.helpers import mounted_files

    # Another portion of the `unmute` namespace on the path (as an installed upstream
    # unmute would be): the images must not carry it.
    other = tmp_path / "site" / "unmute"
    other.mkdir(parents=True)
    (other / "unmute_handler.py").write_text("UPSTREAM = True\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in ("modal_services.orpheus_llama_modal", "modal_services.orpheus_fastapi_modal"):
        module = fresh_module(name, {}, monkeypatch)
        files = mounted_files(module.image)
        assert files, name
        outside = {remote: local for remote, local in files.items() if ROOT not in local.parents}
        assert not outside, f"{name} mounts files from outside the project: {outside}"
        tops = {remote.split("/")[2] for remote in files}
        assert tops == {"unmute", "orpheus_service", "modal_services"}, tops
        assert not any("__pycache__" in remote for remote in files)
        assert "/root/unmute/tts/protocol.py" in files
        assert not any(remote.endswith("unmute/__init__.py") for remote in files)
        assert "/root/unmute/unmute_handler.py" not in files
