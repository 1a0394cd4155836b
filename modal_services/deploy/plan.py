"""What the deploy will do: its options, its steps, the plan `--dry-run` prints."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    ModalDeployConfig,
    llama_concurrency,
    tts_concurrency,
)
from modal_services.images import torch_index_url, torch_requirement

TOKEN_HELP = (
    "Create a token with `modal token new` (it opens a browser and writes ~/.modal.toml), "
    "or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET."
)


class DeployError(RuntimeError):
    """A deploy step failed; the message says why and what to do."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        """The step that failed, when the deploy had started."""


@dataclass
class DeployOptions:
    """What the command line asked for."""

    dry_run: bool = False
    api_key: str | None = None
    """The clients' key to set (None: keep the Secret's, or generate one the first time)."""
    rotate_key: bool = False
    """New client key, and the llama key rotated without refusing a request."""
    environment: str | None = None
    """Modal environment (None: the profile's default)."""
    health_timeout_s: float = 900.0
    """Budget of all the /health waits together."""
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
    rotate = options.rotate_key
    key_rule = (
        "the key given (--api-key / ORPHEUS_API_KEY)"
        if options.api_key
        else "a new key (--rotate-key)"
        if rotate
        else "a new key if the Secret does not exist yet, else the Secret's current key"
    )
    llama_deploy = shown(deploy_command(LLAMA_MODULE, env))
    steps = [
        Step("credentials", "`modal token info`: Modal's own check of this machine's token"),
        Step(
            "secret",
            f"Modal Secret {config.secret_name!r}: created with {SECRET_API_KEY} and "
            f"{SECRET_LLAMA_API_KEY} (service -> llama-server) when missing"
            + ("; a new llama key added as the next key, accepted, not yet sent" if rotate else ""),
        ),
        Step(
            "deploy llama",
            f"{llama_deploy}  -> app {config.llama_app_name!r}: "
            f"llama-server ({config.llama_image}) on {config.llama_gpu}, "
            f"{config.parallel_slots} slots x {config.ctx_per_slot} ctx, "
            f"{llama_concurrency(config)['max_inputs']} concurrent inputs, "
            f"scaledown {config.llama_scaledown_window_s} s, "
            f"min containers {config.llama_min_containers}",
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
        Step("llama url", f"look up the URL of {config.llama_app_name}/{LLAMA_FUNCTION}"),
        Step("llama health", "wait for llama-server's GET /health = 200 (cold start, model load)"),
        Step(
            "tts secret",
            f"set {SECRET_LLAMA_ENDPOINT} in {config.secret_name!r}"
            + (
                f"; {key_rule} as {SECRET_API_KEY}; the service sends the next llama key"
                if rotate
                else ""
            ),
        ),
        Step(
            "deploy tts",
            f"{shown(deploy_command(TTS_MODULE, env))}  -> app {config.tts_app_name!r}: "
            f"{TTS_CLASS} on {config.tts_gpu} ({torch_requirement(config)} from "
            f"{torch_index_url(config)}), {config.tts_max_sessions} sessions "
            f"(max {tts_concurrency(config)['max_inputs']} inputs) per container, scaledown "
            f"{config.tts_scaledown_window_s} s, min containers {config.tts_min_containers}, "
            f"proxy auth {'on' if config.proxy_auth else 'off'}",
        ),
        Step("tts health", "wait for the TTS service's GET /health = 200 (SNAC loaded, llama up)"),
    ]
    if rotate:
        steps.append(
            Step(
                "retire old llama key",
                f"the next llama key becomes {SECRET_LLAMA_API_KEY}; {llama_deploy} again "
                "(its containers now accept the new key only); wait for its /health",
            )
        )
    steps.append(Step("report", "print the environment block for unmute and test commands"))
    return steps


def format_plan(config: ModalDeployConfig, options: DeployOptions) -> str:
    """The plan as printed by --dry-run."""
    lines = ["Deploy plan (dry run: nothing is contacted or changed)", ""]
    for number, step in enumerate(plan(config, options), 1):
        lines.append(f"{number}. {step.name}: {step.what}")
    lines.append(f"   (/health waits: at most {options.health_timeout_s:.0f} s in all)")
    lines += ["", "Configuration (ORPHEUS_MODAL_* variables, ORPHEUS_MODEL_NAME):"]
    for name, value in config.model_dump().items():
        lines.append(f"  {name:<26} {value}")
    lines += ["", "Approximate GPU cost while a container runs (Modal list prices, May 2026):"]
    for gpu in (config.llama_gpu, config.tts_gpu):
        price = GPU_PRICES_USD_PER_HOUR.get(gpu)
        lines.append(
            f"  {gpu:<10} " + (f"~${price:.2f}/h" if price is not None else "see modal.com/pricing")
        )
    lines += ["", f"Modal credentials: step 1 asks Modal (`modal token info`). {TOKEN_HELP}"]
    return "\n".join(lines)
