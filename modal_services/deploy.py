"""Deploy the Orpheus services on Modal: `unmute-tts deploy` or `python deploy_orpheus_modal.py`.

Steps, in order (`--dry-run` prints them, with the configuration, offline):

1. Check Modal credentials: MODAL_TOKEN_ID/MODAL_TOKEN_SECRET in the environment,
   or the active profile of ~/.modal.toml (`modal token new` writes it); then ask
   Modal who they belong to (`modal token info`).
2. Put the API keys into the Modal Secret (created when missing): the key clients
   send (`ORPHEUS_API_KEY`; `--api-key`, else the variable, else generated at the
   first deploy and kept afterwards; `--rotate-key` makes a new one) and the key
   the service sends to llama-server (`ORPHEUS_LLAMA_API_KEY`).
3. Deploy the llama.cpp app (`modal deploy -m modal_services.orpheus_llama_modal`).
4. Download the GGUF into the models Volume once (skipped when it is there).
5. Look up the llama server's URL and write it into the Secret
   (`ORPHEUS_LLAMA_ENDPOINT`).
6. Deploy the TTS app (`modal deploy -m modal_services.orpheus_fastapi_modal`).
7. Wait for llama-server's /health (its first container downloads or loads the
   model), then the TTS service's (200 once SNAC is loaded and llama-server
   answers), at most `--health-timeout` seconds in all.
8. Print the environment block for unmute and ready-to-paste test commands.

A failed step stops the deploy with exit status 1 and says which steps were done
(what is deployed now) and which were not; success is reported only after /health
answered 200.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modal_services.config import (
    DOWNLOAD_FUNCTION,
    GPU_PRICES_USD_PER_HOUR,
    LLAMA_FUNCTION,
    LLAMA_MODULE,
    SECRET_API_KEY,
    SECRET_LLAMA_API_KEY,
    SECRET_LLAMA_ENDPOINT,
    TTS_CLASS,
    TTS_MODULE,
    TTS_WEB_METHOD,
    ModalDeployConfig,
    container_env,
    llama_concurrency,
    tts_concurrency,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN_HELP = (
    "Create a token with `modal token new` (it opens a browser and writes ~/.modal.toml), "
    "or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET."
)


class DeployError(RuntimeError):
    """A deploy step failed; the message says why and what to do."""


class MissingModalCredentials(DeployError):
    """No Modal token is configured on this machine."""


# -- credentials -------------------------------------------------------------------------


def _modal_config_path(environ: Mapping[str, str], home: Path) -> Path:
    configured = environ.get("MODAL_CONFIG_PATH")
    return Path(configured) if configured else home / ".modal.toml"


def _active_profile(config: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    chosen = environ.get("MODAL_PROFILE")
    if chosen:
        return chosen
    for name, values in config.items():
        if isinstance(values, dict) and values.get("active") is True:
            return name
    return "default"


def modal_credentials_source(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> str | None:
    """Where Modal's credentials come from (a short description), or None if nowhere.

    Mirrors the Modal client: each of token_id / token_secret comes from its
    MODAL_* variable, else from the active profile of the config file.
    """
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    path = _modal_config_path(environ, home)
    profile_values: Mapping[str, Any] = {}
    profile = "default"
    if path.is_file():
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MissingModalCredentials(f"cannot read {path}: {exc}. {TOKEN_HELP}") from None
        profile = _active_profile(config, environ)
        section = config.get(profile)
        if isinstance(section, dict):
            profile_values = section

    def value(key: str) -> tuple[str | None, str]:
        env_value = environ.get(f"MODAL_{key.upper()}")
        if env_value:
            return env_value, "environment"
        file_value = profile_values.get(key)
        if isinstance(file_value, str) and file_value:
            return file_value, f"profile {profile!r} of {path}"
        return None, ""

    token_id, id_source = value("token_id")
    token_secret, secret_source = value("token_secret")
    if token_id and token_secret:
        if id_source == secret_source == "environment":
            return "MODAL_TOKEN_ID/MODAL_TOKEN_SECRET"
        return id_source if id_source == secret_source else f"{id_source} and {secret_source}"
    refresh, refresh_source = value("oauth_refresh_token")
    if refresh:
        return f"OAuth refresh token ({refresh_source})"
    return None


def check_modal_credentials(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> str:
    """The credentials' source; raises MissingModalCredentials (naming `modal token new`)."""
    source = modal_credentials_source(environ, home)
    if source is None:
        environ = os.environ if environ is None else environ
        home = Path.home() if home is None else home
        path = _modal_config_path(environ, home)
        raise MissingModalCredentials(
            f"no Modal credentials found (MODAL_TOKEN_ID/MODAL_TOKEN_SECRET are not set and "
            f"{path} has no token for the active profile). {TOKEN_HELP}"
        )
    return source


# -- options and plan ------------------------------------------------------------------------


@dataclass
class DeployOptions:
    """What the command line asked for."""

    dry_run: bool = False
    api_key: str | None = None
    """The clients' key to set (None: keep the Secret's, or generate one the first time)."""
    rotate_key: bool = False
    environment: str | None = None
    """Modal environment (None: the profile's default)."""
    health_timeout_s: float = 900.0
    prefetch_model: bool = True
    env_file: Path | None = None
    """Also write the environment block to this file (mode 600)."""
    modal_key: str | None = None
    """Proxy-auth token id, needed to reach /health when proxy auth is on."""
    modal_secret: str | None = None


@dataclass
class Step:
    """One step of the deploy, as the plan shows it."""

    name: str
    what: str


def modal_cli(*args: str, environment: str | None = None) -> list[str]:
    """A `modal` command line run with this Python (so the right modal is used)."""
    command = [sys.executable, "-m", "modal", *args]
    if environment:
        command += ["--env", environment]
    return command


def deploy_command(module: str, environment: str | None = None) -> list[str]:
    """The `modal deploy` command line of one service module."""
    return modal_cli("deploy", "-m", module, environment=environment)


def shown(command: Sequence[str]) -> str:
    """A modal command line as shown to people (`modal ...`, not the Python path)."""
    return shlex.join(["modal", *command[3:]])


def plan(config: ModalDeployConfig, options: DeployOptions) -> list[Step]:
    """The steps `deploy` runs, in order."""
    env = options.environment
    key_rule = (
        "the key given (--api-key / ORPHEUS_API_KEY)"
        if options.api_key
        else "a new key (--rotate-key)"
        if options.rotate_key
        else "a new key if the Secret does not exist yet, else the Secret's current key"
    )
    steps = [
        Step("credentials", "check Modal credentials, then `modal token info`"),
        Step(
            "secret",
            f"Modal Secret {config.secret_name!r}: {SECRET_API_KEY} = {key_rule}; "
            f"{SECRET_LLAMA_API_KEY} (service -> llama-server) generated once",
        ),
        Step(
            "deploy llama",
            f"{shown(deploy_command(LLAMA_MODULE, env))}  -> app {config.llama_app_name!r}: "
            f"llama-server on {config.llama_gpu}, {config.parallel_slots} slots x "
            f"{config.ctx_per_slot} ctx, {llama_concurrency(config)['max_inputs']} concurrent "
            f"inputs, scaledown {config.llama_scaledown_window_s} s, min containers "
            f"{config.llama_min_containers}",
        ),
    ]
    if options.prefetch_model:
        steps.append(
            Step(
                "download model",
                f"{config.model_repo}/{config.model_name} -> volume {config.models_volume!r} "
                f"(function {DOWNLOAD_FUNCTION!r}; skipped when already there)",
            )
        )
    steps += [
        Step(
            "llama url",
            f"look up the URL of {config.llama_app_name}/{LLAMA_FUNCTION}; set "
            f"{SECRET_LLAMA_ENDPOINT} in {config.secret_name!r}",
        ),
        Step(
            "deploy tts",
            f"{shown(deploy_command(TTS_MODULE, env))}  -> app {config.tts_app_name!r}: "
            f"{TTS_CLASS} on {config.tts_gpu}, {config.tts_max_sessions} sessions "
            f"(max {tts_concurrency(config)['max_inputs']} inputs) per container, scaledown "
            f"{config.tts_scaledown_window_s} s, min containers {config.tts_min_containers}, "
            f"proxy auth {'on' if config.proxy_auth else 'off'}",
        ),
        Step(
            "health",
            "wait for GET /health = 200 of the llama server (cold start, model load), then "
            f"of the TTS service; at most {options.health_timeout_s:.0f} s in all",
        ),
        Step("report", "print the environment block for unmute and test commands"),
    ]
    return steps


def format_plan(config: ModalDeployConfig, options: DeployOptions) -> str:
    """The plan as printed by --dry-run."""
    lines = ["Deploy plan (dry run: nothing is contacted or changed)", ""]
    for number, step in enumerate(plan(config, options), 1):
        lines.append(f"{number}. {step.name}: {step.what}")
    lines += ["", "Configuration (ORPHEUS_MODAL_* variables, ORPHEUS_MODEL_NAME):"]
    for name, value in config.model_dump().items():
        lines.append(f"  {name:<26} {value}")
    lines += ["", "Approximate GPU cost while a container runs (Modal list prices, May 2026):"]
    for gpu in (config.llama_gpu, config.tts_gpu):
        price = GPU_PRICES_USD_PER_HOUR.get(gpu)
        lines.append(
            f"  {gpu:<10} " + (f"~${price:.2f}/h" if price is not None else "see modal.com/pricing")
        )
    try:
        source = check_modal_credentials()
        lines += ["", f"Modal credentials: found ({source})."]
    except MissingModalCredentials as exc:
        lines += ["", f"Modal credentials: MISSING. {exc}"]
    return "\n".join(lines)


# -- Modal operations (the only part that talks to Modal) --------------------------------------


class ModalOps(Protocol):
    """What the deploy needs from Modal; tests substitute a fake."""

    def whoami(self) -> str: ...
    def secret_exists(self, name: str) -> bool: ...
    def put_secret(self, name: str, values: Mapping[str, str], *, exists: bool) -> None: ...
    def deploy(self, module: str) -> None: ...
    def prefetch_model(self, config: ModalDeployConfig) -> str: ...
    def llama_url(self, config: ModalDeployConfig) -> str: ...
    def tts_url(self, config: ModalDeployConfig) -> str: ...


class RealModalOps:
    """ModalOps through the `modal` CLI and Python API.

    `modal deploy` runs in a child process that gets this process's configuration
    as ORPHEUS_MODAL_* variables, so it deploys exactly what the plan showed.
    """

    def __init__(self, config: ModalDeployConfig, environment: str | None = None) -> None:
        self.config = config
        self.environment = environment

    def _run(self, command: Sequence[str], *, capture: bool) -> str:
        env = {**os.environ, **container_env(self.config)}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        result = subprocess.run(
            list(command),
            cwd=REPO_ROOT,
            env=env,
            text=True,
            capture_output=capture,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
            raise DeployError(
                f"`{shown(command)}` exited with status {result.returncode}"
                + (f": {detail}" if detail else " (its output is above)")
            )
        return result.stdout if capture else ""

    def whoami(self) -> str:
        output = self._run(modal_cli("token", "info"), capture=True)
        return " ".join(output.split())

    def secret_exists(self, name: str) -> bool:
        import modal
        from modal.exception import NotFoundError

        try:
            modal.Secret.from_name(name, environment_name=self.environment).hydrate()
        except NotFoundError:
            return False
        return True

    def put_secret(self, name: str, values: Mapping[str, str], *, exists: bool) -> None:
        import modal

        if not exists:
            modal.Secret.objects.create(name, dict(values), environment_name=self.environment)
            return
        secret = modal.Secret.from_name(name, environment_name=self.environment)
        update: Callable[[dict[str, str]], None] | None = getattr(secret, "update", None)
        if update is None:
            raise DeployError(
                "this modal client cannot update a Secret in place; upgrade it "
                "(pip install -U modal) and deploy again"
            )
        update(dict(values))

    def deploy(self, module: str) -> None:
        self._run(deploy_command(module, self.environment), capture=False)

    def prefetch_model(self, config: ModalDeployConfig) -> str:
        import modal

        download = modal.Function.from_name(
            config.llama_app_name, DOWNLOAD_FUNCTION, environment_name=self.environment
        )
        return str(download.remote())

    def llama_url(self, config: ModalDeployConfig) -> str:
        import modal

        serve = modal.Function.from_name(
            config.llama_app_name, LLAMA_FUNCTION, environment_name=self.environment
        )
        url = serve.get_web_url()
        if not url:
            raise DeployError(f"{config.llama_app_name}/{LLAMA_FUNCTION} has no web URL")
        return url.rstrip("/")

    def tts_url(self, config: ModalDeployConfig) -> str:
        import modal

        cls = modal.Cls.from_name(config.tts_app_name, TTS_CLASS, environment_name=self.environment)
        url = getattr(cls(), TTS_WEB_METHOD).get_web_url()
        if not url:
            raise DeployError(f"{config.tts_app_name}/{TTS_CLASS}.{TTS_WEB_METHOD} has no web URL")
        return url.rstrip("/")


# -- health -----------------------------------------------------------------------------


def get_json(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, Any]:
    """(status, parsed JSON body or None); status 0 when the connection failed."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status: int = response.status
            body = response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def wait_for_health(
    url: str,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    get: Callable[[str, Mapping[str, str], float], tuple[int, Any]] = get_json,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = print,
) -> Any:
    """Poll GET url/health until 200; returns its body, raises DeployError at the timeout."""
    deadline = clock() + timeout_s
    last: tuple[int, Any] = (0, None)
    delay = 2.0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            status, body = last
            raise DeployError(
                f"{url}/health did not answer 200 within {timeout_s:.0f} s "
                f"(last answer: {status or 'no connection'} {json.dumps(body) if body else ''})"
            )
        # A cold start holds the request until a container is up: allow a long read.
        last = get(f"{url}/health", headers, min(120.0, max(5.0, remaining)))
        status, body = last
        if status == 200:
            return body
        log(f"  /health: {status or 'no connection'} {json.dumps(body) if body else ''}".rstrip())
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 1.5, 15.0)


# -- the deploy ------------------------------------------------------------------------------


@dataclass
class DeployResult:
    """What a successful deploy produced."""

    tts_url: str
    llama_url: str
    api_key: str | None
    """The clients' key when this deploy set it; None when the Secret kept its key."""
    health: Any = None


@dataclass
class _Progress:
    done: list[str] = field(default_factory=lambda: list[str]())
    deployed: list[str] = field(default_factory=lambda: list[str]())


def new_api_key() -> str:
    """A fresh random key (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _proxy_headers(options: DeployOptions) -> dict[str, str]:
    headers: dict[str, str] = {}
    if options.modal_key and options.modal_secret:
        headers["Modal-Key"] = options.modal_key
        headers["Modal-Secret"] = options.modal_secret
    return headers


def deploy(
    config: ModalDeployConfig,
    options: DeployOptions,
    ops: ModalOps,
    *,
    log: Callable[[str], None] = print,
    wait_health: Callable[..., Any] = wait_for_health,
) -> DeployResult:
    """Run every step; raises DeployError naming the failed step and what was done."""
    progress = _Progress()
    steps = plan(config, options)
    current = ""

    def start(name: str) -> None:
        nonlocal current
        current = name
        number = next(i for i, step in enumerate(steps, 1) if step.name == name)
        log(f"[{number}/{len(steps)}] {name}")

    try:
        start("credentials")
        source = check_modal_credentials()
        if config.proxy_auth and not (options.modal_key and options.modal_secret):
            raise DeployError(
                "ORPHEUS_MODAL_PROXY_AUTH is on: set ORPHEUS_MODAL_KEY and ORPHEUS_MODAL_SECRET "
                "to a proxy auth token (Modal dashboard > Settings > Proxy Auth Tokens) so the "
                "deploy can check /health and the clients can connect"
            )
        log(f"  credentials: {source}")
        log(f"  {ops.whoami()}")
        progress.done.append("credentials checked")

        start("secret")
        exists = ops.secret_exists(config.secret_name)
        api_key = options.api_key or (new_api_key() if options.rotate_key or not exists else None)
        values: dict[str, str] = {}
        if api_key is not None:
            values[SECRET_API_KEY] = api_key
        if not exists or options.rotate_key:
            values[SECRET_LLAMA_API_KEY] = new_api_key()
        if values:
            ops.put_secret(config.secret_name, values, exists=exists)
        log(
            f"  secret {config.secret_name!r}: "
            + ("created" if not exists else f"updated {sorted(values)}" if values else "unchanged")
        )
        progress.done.append(f"secret {config.secret_name!r} written")

        start("deploy llama")
        ops.deploy(LLAMA_MODULE)
        progress.deployed.append(f"app {config.llama_app_name!r}")
        progress.done.append(f"app {config.llama_app_name!r} deployed")

        if options.prefetch_model:
            start("download model")
            log(f"  {ops.prefetch_model(config)}")
            progress.done.append(f"model in volume {config.models_volume!r}")

        start("llama url")
        llama_url = ops.llama_url(config)
        ops.put_secret(config.secret_name, {SECRET_LLAMA_ENDPOINT: llama_url}, exists=True)
        log(f"  {SECRET_LLAMA_ENDPOINT}={llama_url}")
        progress.done.append(f"{SECRET_LLAMA_ENDPOINT} set to {llama_url}")

        start("deploy tts")
        ops.deploy(TTS_MODULE)
        progress.deployed.append(f"app {config.tts_app_name!r}")
        tts_url = ops.tts_url(config)
        log(f"  ORPHEUS_FASTAPI_URL={tts_url}")
        progress.done.append(f"app {config.tts_app_name!r} deployed at {tts_url}")

        start("health")
        log("  the first requests start both containers (model load): this takes minutes")
        deadline = time.monotonic() + options.health_timeout_s
        wait_health(llama_url, {}, options.health_timeout_s)
        log("  llama-server: healthy")
        remaining = max(30.0, deadline - time.monotonic())
        health = wait_health(tts_url, _proxy_headers(options), remaining)
        log("  TTS service: healthy")
        progress.done.append("service healthy")
        start("report")
        return DeployResult(tts_url=tts_url, llama_url=llama_url, api_key=api_key, health=health)
    except Exception as exc:
        raise DeployError(_failure_message(current, exc, progress)) from exc


def _failure_message(step: str, exc: BaseException, progress: _Progress) -> str:
    lines = [f"deploy FAILED at step '{step}': {exc}"]
    lines.append("done before the failure: " + ("; ".join(progress.done) or "nothing"))
    if progress.deployed:
        lines.append(
            "deployed now (NOT a working service): "
            + ", ".join(progress.deployed)
            + ". Inspect with `modal app logs <app>`; stop with `modal app stop <app>`; or fix "
            "the cause and run the deploy again (it is safe to repeat)."
        )
    else:
        lines.append("no app was deployed.")
    if isinstance(exc, MissingModalCredentials):
        lines.append(TOKEN_HELP)
    return "\n".join(lines)


# -- report -------------------------------------------------------------------------------


def env_block(result: DeployResult, config: ModalDeployConfig) -> str:
    """The variables that point unmute at the deployment."""
    key_line = (
        f"ORPHEUS_API_KEY={result.api_key}"
        if result.api_key
        else "# ORPHEUS_API_KEY unchanged: use the key printed by the first deploy "
        "(`unmute-tts deploy --rotate-key` makes a new one)"
    )
    lines = [
        f"ORPHEUS_FASTAPI_URL={result.tts_url}",
        key_line,
        "UNMUTE_TTS_BACKEND=orpheus",
        "# a cold start (both containers) takes tens of seconds: give start-up time",
        "ORPHEUS_STARTUP_BUDGET_S=120",
    ]
    if config.proxy_auth:
        lines += [
            "ORPHEUS_MODAL_KEY=<your proxy auth token id>",
            "ORPHEUS_MODAL_SECRET=<your proxy auth token secret>",
        ]
    return "\n".join(lines)


def test_commands(result: DeployResult, config: ModalDeployConfig) -> str:
    """Ready-to-paste commands that exercise the deployment."""
    url = result.tts_url
    auth = ' -H "Authorization: Bearer $ORPHEUS_API_KEY"'
    if config.proxy_auth:
        auth += ' -H "Modal-Key: $ORPHEUS_MODAL_KEY" -H "Modal-Secret: $ORPHEUS_MODAL_SECRET"'
    body = json.dumps(
        {"input": "Hello from Orpheus on Modal.", "voice": "tara", "response_format": "wav"}
    )
    ws_url = url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    ws_script = (
        "import asyncio, os, websockets\n"
        "async def main():\n"
        f"    url = {ws_url + '/v1/audio/speech/stream/ws?voice=tara'!r}\n"
        "    headers = {'Authorization': 'Bearer ' + os.environ['ORPHEUS_API_KEY']}\n"
        "    pcm = bytearray()\n"
        "    async with websockets.connect(url, additional_headers=headers) as ws:\n"
        "        await ws.send('Hello over the WebSocket.')\n"
        "        async for frame in ws:\n"
        "            pcm += frame if isinstance(frame, bytes) else b''\n"
        "    open('ws.pcm', 'wb').write(pcm)\n"
        "    print(len(pcm) / 48000, 's of 16-bit 24 kHz PCM in ws.pcm')\n"
        "asyncio.run(main())\n"
    )
    return "\n".join(
        [
            "# health (no key needed)",
            f"curl -sS {url}/health",
            "# OpenAI-compatible speech, as a WAV file",
            f"curl -sS -X POST {url}/v1/audio/speech{auth} -H 'Content-Type: application/json' "
            f"-d '{body}' -o hello.wav",
            "# unmute's WebSocket, through the Orchestrator and the orpheus backend",
            'unmute-tts say "Hello from unmute on Modal." --backend orpheus -o orpheus.wav',
            "# the text-in, PCM-out WebSocket",
            f"python -c {shlex.quote(ws_script)}",
            "# live tests and latency benchmark (with the variables above exported)",
            "pytest -m live tests/live",
            "python bench/live.py",
        ]
    )


def write_env_file(path: Path, block: str) -> None:
    """Write the environment block readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(block + "\n")


# -- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The deploy command's flags."""
    parser.add_argument("--dry-run", action="store_true", help="print the plan; contact nothing")
    parser.add_argument(
        "--api-key",
        help="key clients must send (default: ORPHEUS_API_KEY, else keep the Secret's key, "
        "else generate one)",
    )
    parser.add_argument(
        "--rotate-key", action="store_true", help="generate a new client key (and llama key)"
    )
    parser.add_argument("--env", dest="environment", help="Modal environment to deploy into")
    parser.add_argument(
        "--health-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for /health after deploying (default 900: cold starts)",
    )
    parser.add_argument(
        "--skip-model-download",
        action="store_true",
        help="do not pre-download the GGUF (the first llama container downloads it then)",
    )
    parser.add_argument(
        "--env-file", type=Path, help="also write the environment block to this file (mode 600)"
    )


def options_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> DeployOptions:
    """DeployOptions from parsed flags and the environment."""
    if args.api_key and args.rotate_key:
        raise DeployError("--api-key and --rotate-key exclude each other")
    api_key = args.api_key or (None if args.rotate_key else environ.get("ORPHEUS_API_KEY") or None)
    return DeployOptions(
        dry_run=args.dry_run,
        api_key=api_key,
        rotate_key=args.rotate_key,
        environment=args.environment,
        health_timeout_s=args.health_timeout,
        prefetch_model=not args.skip_model_download,
        env_file=args.env_file,
        modal_key=environ.get("ORPHEUS_MODAL_KEY") or None,
        modal_secret=environ.get("ORPHEUS_MODAL_SECRET") or None,
    )


def run(args: argparse.Namespace, *, ops: ModalOps | None = None) -> int:
    """Run the deploy command; returns the exit status."""
    try:
        config = ModalDeployConfig.load()
        options = options_from_args(args, os.environ)
    except (DeployError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if options.dry_run:
        print(format_plan(config, options))
        return 0
    try:
        check_modal_credentials()
    except MissingModalCredentials as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = deploy(config, options, ops or RealModalOps(config, options.environment))
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    block = env_block(result, config)
    print("\nDeployed and healthy.\n\nEnvironment for unmute (add to .env or export):\n")
    print(block)
    if options.env_file is not None:
        write_env_file(options.env_file, block)
        print(f"\n(written to {options.env_file}, mode 600)")
    print("\nTry it:\n")
    print(test_commands(result, config))
    print(
        "\nRotate the client key: `unmute-tts deploy --rotate-key` (writes a new key into the "
        f"Secret {config.secret_name!r} and redeploys; update ORPHEUS_API_KEY wherever "
        "unmute runs)."
    )
    return 0


def register(subparsers: Any) -> None:
    """Add `deploy` to `unmute-tts`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deploy",
        help="deploy the Orpheus services on Modal (llama.cpp on L40S, TTS on L4)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of deploy_orpheus_modal.py."""
    parser = argparse.ArgumentParser(
        prog="deploy_orpheus_modal.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
