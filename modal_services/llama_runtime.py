"""What runs inside the llama container, as plain Python (no Modal import; tested offline).

- `ensure_model`: the GGUF in the models volume, downloaded from the hub only when
  it is not there (after re-reading the volume, in case another container has just
  put it there), then committed so later containers see it.
- `start_llama_server`: writes the accepted llama keys to a file (kept out of `ps`), starts
  llama-server with the command of `config.llama_server_command` through
  `orpheus_service.llama.server.LlamaServerProcess` (the runner the local tests use),
  copies its output to the container's stdout (Modal logs), and returns once
  `/health` answers 200.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from modal_services.config import ModalDeployConfig, llama_server_config
from modal_services.llama_keys import write_api_key_file
from orpheus_service.llama.server import LlamaServerProcess


def llama_log_path() -> Path:
    """llama-server's log file (/tmp/llama-server.log in a container)."""
    return Path(tempfile.gettempdir()) / "llama-server.log"


class ModelDownloadError(RuntimeError):
    """The GGUF could not be put into the volume."""


def model_present(path: Path) -> bool:
    """A non-empty file is at `path`."""
    return path.is_file() and path.stat().st_size > 0


def hub_download(config: ModalDeployConfig) -> Path:
    """Download `model_name` of `model_repo` into `models_dir` (huggingface_hub)."""
    from huggingface_hub import hf_hub_download  # pyright: ignore[reportUnknownVariableType]

    path = hf_hub_download(
        repo_id=config.model_repo,
        filename=config.model_name,
        revision=config.model_revision,
        local_dir=config.models_dir,
    )
    return Path(path)


def ensure_model(
    config: ModalDeployConfig,
    *,
    reload: Callable[[], None] | None = None,
    commit: Callable[[], None] | None = None,
    download: Callable[[ModalDeployConfig], Path] = hub_download,
) -> tuple[Path, bool]:
    """(path of the GGUF, whether this call downloaded it)."""
    path = Path(config.model_path)
    if model_present(path):
        return path, False
    if reload is not None:
        reload()
        if model_present(path):
            return path, False
    try:
        download(config)
    except Exception as exc:
        raise ModelDownloadError(
            f"cannot download {config.model_name} from {config.model_repo}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not model_present(path):
        raise ModelDownloadError(
            f"{config.model_repo} has no file {config.model_name} (ORPHEUS_MODEL_NAME / "
            "ORPHEUS_MODAL_MODEL_REPO)"
        )
    if commit is not None:
        commit()
    return path, True


def follow_log(path: Path, stop: threading.Event, out: TextIO = sys.stdout) -> None:
    """Copy what is appended to `path` to `out` until `stop` is set."""
    position = 0
    while True:
        try:
            with path.open("rb") as f:
                f.seek(position)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            position += len(chunk)
            out.write(chunk.decode(errors="replace"))
            out.flush()
        elif stop.wait(0.2):
            return


def llama_process(
    config: ModalDeployConfig,
    *,
    api_key_file: str | None,
    log_path: Path | None = None,
    host: str = "0.0.0.0",
) -> LlamaServerProcess:
    """The (not yet started) llama-server process of the container."""
    binary = Path(config.llama_binary)
    library_path = os.pathsep.join(
        p for p in (str(binary.parent), os.environ.get("LD_LIBRARY_PATH", "")) if p
    )
    return LlamaServerProcess(
        llama_server_config(config, api_key_file=api_key_file, host=host),
        binary=binary,
        startup_timeout_s=config.llama_startup_timeout_s,
        env={"LD_LIBRARY_PATH": library_path},
        log_path=log_path or llama_log_path(),
    )


def exit_container(returncode: int) -> None:
    """llama-server died: end the container so Modal starts a fresh one."""
    print(f"llama-server exited with code {returncode}; stopping the container", flush=True)
    os._exit(1)


def watch_process(
    process: LlamaServerProcess, on_exit: Callable[[int], None] = exit_container
) -> threading.Thread:
    """Call `on_exit(returncode)` when the started llama-server process ends."""
    popen = process.process
    if popen is None:
        raise RuntimeError("llama-server is not running")

    def wait() -> None:
        on_exit(popen.wait())

    thread = threading.Thread(target=wait, name="llama-watch", daemon=True)
    thread.start()
    return thread


def start_llama_server(
    config: ModalDeployConfig,
    *,
    api_keys: list[str],
    out: TextIO = sys.stdout,
    on_exit: Callable[[int], None] = exit_container,
    key_path: str | None = None,
    log_path: Path | None = None,
    host: str = "0.0.0.0",
) -> LlamaServerProcess:
    """Start llama-server accepting `api_keys` (none: no key is asked) and return once
    `/health` answers 200 (raises on failure).

    Afterwards its output keeps going to `out`, and `on_exit` runs if it dies.
    """
    log_path = log_path or llama_log_path()
    key_file = write_api_key_file(api_keys, key_path)
    process = llama_process(config, api_key_file=key_file, log_path=log_path, host=host)
    print(f"starting: {' '.join(process.command)}", file=out, flush=True)
    stop = threading.Event()
    threading.Thread(
        target=follow_log, args=(log_path, stop, out), name="llama-log", daemon=True
    ).start()
    try:
        process.start()
    except BaseException:
        stop.set()
        raise
    watch_process(process, on_exit)
    return process
