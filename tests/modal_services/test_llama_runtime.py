"""The llama container as plain Python: the model found in (or downloaded into) the
volume, and llama-server started as the container starts it (real binary, tiny GGUF)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from modal_services import config as cfg
from modal_services.config import ModalDeployConfig
from orpheus_service.llama.server import LlamaServerConfig, build_llama_server_command


def test_model_download_is_skipped_when_the_volume_has_it(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf")
    calls: list[str] = []

    def download(c: ModalDeployConfig) -> Path:
        calls.append("download")
        target = Path(c.models_dir) / c.model_name
        target.write_bytes(b"GGUF")
        return target

    first = ensure_model(
        config,
        reload=lambda: calls.append("reload"),
        commit=lambda: calls.append("commit"),
        download=download,
    )
    second = ensure_model(config, reload=lambda: calls.append("reload"), download=download)
    assert first == (tmp_path / "m.gguf", True)
    assert second == (tmp_path / "m.gguf", False)
    assert calls == ["reload", "download", "commit"]


def test_model_another_container_downloaded_is_found_after_a_reload(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf")

    def reload() -> None:
        (tmp_path / "m.gguf").write_bytes(b"GGUF")

    def download(c: ModalDeployConfig) -> Path:
        raise AssertionError("downloaded although the volume had the model")

    assert ensure_model(config, reload=reload, download=download) == (tmp_path / "m.gguf", False)


def test_a_failed_download_names_the_repository_and_file(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ModelDownloadError, ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf", model_repo="o/r")

    def download(c: ModalDeployConfig) -> Path:
        raise OSError("404")

    with pytest.raises(ModelDownloadError, match=r"m\.gguf from o/r"):
        ensure_model(config, download=download)


@pytest.mark.llama
def test_llama_container_starts_the_deployed_server_and_enforces_its_key(
    tmp_path: Path, llama_server_binary: Path
) -> None:
    import io
    import shutil
    import time
    import urllib.error
    import urllib.request

    from modal_services.llama_runtime import ensure_model, start_llama_server
    from orpheus_service.llama.server import free_port
    from tests.support.llama import ORPHEUS_USER_DEFINED, model_cache_dir

    tiny = ORPHEUS_USER_DEFINED.write(model_cache_dir())
    config = ModalDeployConfig(
        llama_binary=str(llama_server_binary),
        models_dir=str(tmp_path / "models"),
        model_name=tiny.name,
        llama_port=free_port(),
        parallel_slots=2,
        ctx_per_slot=4096,
        llama_startup_timeout_s=60,
    )
    (tmp_path / "models").mkdir()

    def download(c: ModalDeployConfig) -> Path:
        return Path(shutil.copy(tiny, c.model_path))

    ensure_model(config, download=download)
    out = io.StringIO()
    exits: list[int] = []
    key_path = tmp_path / "keys"
    process = start_llama_server(
        config,
        api_keys=["llama-key"],
        out=out,
        on_exit=exits.append,
        key_path=str(key_path),
        log_path=tmp_path / "llama.log",
        host="127.0.0.1",
    )

    def post(headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            f"{process.base_url}/completion",
            data=json.dumps({"prompt": "hi", "n_predict": 2}).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        with urllib.request.urlopen(f"{process.base_url}/health", timeout=5) as response:
            assert response.status == 200
        assert post({}) == 401
        assert post({"Authorization": "Bearer llama-key"}) == 200
        assert key_path.stat().st_mode & 0o777 == 0o600
        assert process.command[:3] == [str(llama_server_binary), "-m", config.model_path]
        assert "-ngl 999" in " ".join(process.command)
    finally:
        process.stop()
    deadline = time.monotonic() + 5
    while not exits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exits, "the watchdog did not report llama-server's exit"
    assert out.getvalue().startswith("starting: ")
    assert "llama-key" not in out.getvalue()  # the key travels in a file, not the argv


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
