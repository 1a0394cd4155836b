"""The deploy itself: every step in order, each failure reported with what is deployed."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modal_services.config import (
    LLAMA_MODULE,
    SECRET_API_KEY,
    SECRET_LLAMA_API_KEY,
    SECRET_LLAMA_ENDPOINT,
    TTS_MODULE,
    ModalDeployConfig,
)
from modal_services.deploy.ops import ModalOps
from modal_services.deploy.plan import TOKEN_HELP, DeployError, DeployOptions, plan
from modal_services.llama_keys import rotation_finish, rotation_start, rotation_switch
from unmute.tts.health import HealthAnswer, HealthTimeout, poll_health


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


HealthWait = Callable[[str, Mapping[str, str], float], Any]


def new_api_key() -> str:
    """A fresh random key (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def wait_for_health(
    url: str,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    log: Callable[[str], None] = print,
    **poll: Any,
) -> Any:
    """Poll GET url/health until 200; returns its body, raises DeployError at the timeout.

    A cold start holds each request until a container is up, so a request may take
    up to 120 s; `poll` goes to `unmute.tts.health.poll_health` (tests pass a clock)."""

    def show(answer: HealthAnswer) -> None:
        log(f"  /health: {answer.describe()}")

    try:
        answer = poll_health(
            f"{url}/health",
            timeout_s=timeout_s,
            headers=headers,
            interval_s=2.0,
            max_interval_s=15.0,
            request_timeout_s=120.0,
            on_answer=show,
            **poll,
        )
    except HealthTimeout as exc:
        raise DeployError(str(exc)) from None
    return answer.body


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
    wait_health: HealthWait = wait_for_health,
) -> DeployResult:
    """Run every step; raises DeployError naming the failed step and what was done.

    With `rotate_key` the llama key changes without a refused request: the next key
    is accepted by llama-server before the service sends it, and the old one is
    retired only after the service was redeployed (see modal_services.llama_keys).
    """
    progress = _Progress()
    steps = plan(config, options)
    current = ""
    deadline = time.monotonic() + options.health_timeout_s

    def start(name: str) -> None:
        nonlocal current
        current = name
        number = next(i for i, step in enumerate(steps, 1) if step.name == name)
        log(f"[{number}/{len(steps)}] {name}")

    def healthy(url: str, headers: Mapping[str, str]) -> Any:
        return wait_health(url, headers, max(30.0, deadline - time.monotonic()))

    try:
        start("credentials")
        if config.proxy_auth and not (options.modal_key and options.modal_secret):
            raise DeployError(
                "ORPHEUS_MODAL_PROXY_AUTH is on: set ORPHEUS_MODAL_KEY and ORPHEUS_MODAL_SECRET "
                "to a proxy auth token (Modal dashboard > Settings > Proxy Auth Tokens) so the "
                "deploy can check /health and the clients can connect"
            )
        log(f"  {ops.whoami()}")
        progress.done.append("credentials checked")

        start("secret")
        exists = ops.secret_exists(config.secret_name)
        api_key = options.api_key or (new_api_key() if options.rotate_key or not exists else None)
        next_llama_key = new_api_key() if options.rotate_key and exists else None
        if not exists:
            values = {SECRET_LLAMA_API_KEY: new_api_key()}
            if api_key is not None:
                values[SECRET_API_KEY] = api_key
            ops.create_secret(config.secret_name, values)
            log(f"  secret {config.secret_name!r}: created")
        elif next_llama_key is not None:
            ops.update_secret(config.secret_name, rotation_start(next_llama_key))
            log(f"  secret {config.secret_name!r}: next llama key added (accepted, not sent)")
        else:
            log(f"  secret {config.secret_name!r}: exists")
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
        log(f"  {SECRET_LLAMA_ENDPOINT}={llama_url}")

        start("llama health")
        log("  the first request starts a container (model load): this takes minutes")
        healthy(llama_url, {})
        progress.done.append("llama-server healthy")

        start("tts secret")
        values = {SECRET_LLAMA_ENDPOINT: llama_url}
        if exists and api_key is not None:
            values[SECRET_API_KEY] = api_key
        if next_llama_key is not None:
            values |= rotation_switch()
        ops.update_secret(config.secret_name, values)
        log(f"  secret {config.secret_name!r}: updated {sorted(values)}")
        progress.done.append(f"{SECRET_LLAMA_ENDPOINT} set to {llama_url}")

        start("deploy tts")
        ops.deploy(TTS_MODULE)
        progress.deployed.append(f"app {config.tts_app_name!r}")
        tts_url = ops.tts_url(config)
        log(f"  ORPHEUS_FASTAPI_URL={tts_url}")
        progress.done.append(f"app {config.tts_app_name!r} deployed at {tts_url}")

        start("tts health")
        health = healthy(tts_url, _proxy_headers(options))
        progress.done.append("service healthy")

        if next_llama_key is not None:
            start("retire old llama key")
            ops.update_secret(config.secret_name, rotation_finish(next_llama_key))
            ops.deploy(LLAMA_MODULE)
            healthy(llama_url, {})
            progress.done.append("old llama key retired")

        start("report")
        return DeployResult(tts_url=tts_url, llama_url=llama_url, api_key=api_key, health=health)
    except Exception as exc:
        raise DeployError(_failure_message(current, exc, progress), step=current) from exc


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
    if step == "credentials":
        lines.append(TOKEN_HELP)
    return "\n".join(lines)
