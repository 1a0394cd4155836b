"""The deploy's steps, in order, on a recording ModalOps: what is created, deployed,
looked up and waited for, and how a failure is reported."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from modal_services.config import ModalDeployConfig
from modal_services.deploy import cli
from modal_services.deploy.plan import DeployError, DeployOptions
from modal_services.deploy.report import env_block
from modal_services.deploy.steps import deploy, wait_for_health
from modal_services.llama_keys import LLAMA_API_KEY, LLAMA_NEXT_API_KEY
from tests.modal_services.fake_ops import FakeOps, quiet
from unmute.tts.health import HealthAnswer


def run_deploy(ops: FakeOps, options: DeployOptions | None = None, **config: Any) -> Any:
    return deploy(
        ModalDeployConfig(**config),
        options or DeployOptions(),
        ops,
        log=quiet,
        wait_health=ops.health,
    )


def test_first_deploy_runs_the_steps_in_order_and_generates_the_keys(no_modal_env: Path) -> None:
    ops = FakeOps()
    result = run_deploy(ops)
    assert ops.names() == [
        "whoami",
        "secret_exists",
        "create_secret",
        "deploy",
        "prefetch_model",
        "llama_url",
        "health",
        "update_secret",
        "deploy",
        "tts_url",
        "health",
    ]
    assert [arg for name, arg in ops.calls if name == "deploy"] == [
        cfg.LLAMA_MODULE,
        cfg.TTS_MODULE,
    ]
    assert [arg for name, arg in ops.calls if name == "health"] == [
        result.llama_url,
        result.tts_url,
    ]
    assert result.api_key and ops.secret[cfg.SECRET_API_KEY] == result.api_key
    assert ops.secret[cfg.SECRET_LLAMA_API_KEY] not in ("", result.api_key)
    assert ops.secret[cfg.SECRET_LLAMA_ENDPOINT] == result.llama_url
    block = env_block(result, ModalDeployConfig())
    assert f"ORPHEUS_FASTAPI_URL={result.tts_url}" in block
    assert f"ORPHEUS_API_KEY={result.api_key}" in block
    assert "UNMUTE_TTS_BACKEND=orpheus" in block


def test_the_tts_app_is_deployed_only_once_llama_server_is_healthy(no_modal_env: Path) -> None:
    ops = FakeOps()
    run_deploy(ops)
    names = ops.names()
    assert names.index("health") < names.index("update_secret") < names.index("deploy", 4)


def test_redeploy_keeps_the_secrets_keys(no_modal_env: Path) -> None:
    ops = FakeOps(secret_exists=True, secret={LLAMA_API_KEY: "llama", cfg.SECRET_API_KEY: "c"})
    result = run_deploy(ops)
    assert result.api_key is None
    assert ops.secret == {
        LLAMA_API_KEY: "llama",
        cfg.SECRET_API_KEY: "c",
        cfg.SECRET_LLAMA_ENDPOINT: result.llama_url,
    }
    assert "ORPHEUS_API_KEY unchanged" in env_block(result, ModalDeployConfig())


def test_rotate_key_gives_new_client_and_llama_keys(no_modal_env: Path) -> None:
    ops = FakeOps(secret_exists=True, secret={LLAMA_API_KEY: "old", cfg.SECRET_API_KEY: "c"})
    result = run_deploy(ops, DeployOptions(rotate_key=True))
    assert result.api_key not in (None, "c") and ops.secret[cfg.SECRET_API_KEY] == result.api_key
    assert ops.secret[LLAMA_API_KEY] not in ("old", result.api_key)
    assert ops.secret[LLAMA_NEXT_API_KEY] == ""


def test_a_given_client_key_is_written_without_rotating_the_llama_key(no_modal_env: Path) -> None:
    ops = FakeOps(secret_exists=True, secret={LLAMA_API_KEY: "llama"})
    result = run_deploy(ops, DeployOptions(api_key="mine"))
    assert result.api_key == "mine" and ops.secret[cfg.SECRET_API_KEY] == "mine"
    assert ops.secret[LLAMA_API_KEY] == "llama" and LLAMA_NEXT_API_KEY not in ops.secret


def test_a_failed_tts_deploy_is_an_error_that_names_what_is_deployed(no_modal_env: Path) -> None:
    with pytest.raises(DeployError) as caught:
        run_deploy(FakeOps(fail_at="tts_url"))
    message = str(caught.value)
    assert "FAILED at step 'deploy tts'" in message
    assert "tts_url broke" in message
    assert "NOT a working service" in message
    assert "'orpheus-llama-cpp'" in message
    assert caught.value.step == "deploy tts"


def test_an_unhealthy_service_fails_the_deploy(no_modal_env: Path) -> None:
    def never(url: str, headers: Mapping[str, str], timeout_s: float) -> Any:
        raise DeployError(f"{url}/health did not answer 200 within {timeout_s:.0f} s")

    with pytest.raises(DeployError, match="FAILED at step 'llama health'"):
        deploy(
            ModalDeployConfig(),
            DeployOptions(health_timeout_s=5),
            FakeOps(),
            log=quiet,
            wait_health=never,
        )


def test_a_refused_modal_token_stops_at_step_one_with_the_setup_status(
    no_modal_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    ops = FakeOps(fail_at="whoami")
    status = cli.run(parser.parse_args([]), ops=ops)
    out, err = capsys.readouterr()
    assert status == 2
    assert ops.names() == ["whoami"]
    assert "FAILED at step 'credentials'" in err and "modal token new" in err
    assert "no app was deployed" in err and "[2/" not in out


def test_run_exits_1_and_never_prints_success_when_a_step_fails(
    no_modal_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    status = cli.run(parser.parse_args([]), ops=FakeOps(fail_at="deploy"))
    out, err = capsys.readouterr()
    assert status == 1
    assert "Deployed and healthy" not in out
    assert "FAILED at step 'deploy llama'" in err
    assert "no app was deployed" in err


def test_proxy_auth_without_a_proxy_token_stops_before_deploying(no_modal_env: Path) -> None:
    ops = FakeOps()
    with pytest.raises(DeployError, match="ORPHEUS_MODAL_KEY"):
        run_deploy(ops, proxy_auth=True)
    assert ("deploy", cfg.LLAMA_MODULE) not in ops.calls


def test_health_wait_polls_until_200() -> None:
    answers = iter([HealthAnswer(0, None, "refused"), HealthAnswer(503, {"status": "starting"})])
    now = [0.0]
    asked: list[str] = []

    def get(url: str, headers: Mapping[str, str], timeout_s: float) -> HealthAnswer:
        asked.append(url)
        return next(answers, HealthAnswer(200, {"status": "ok"}))

    def sleep(seconds: float) -> None:
        now[0] += seconds

    body = wait_for_health(
        "https://x", {}, 60, log=quiet, get=get, sleep=sleep, clock=lambda: now[0]
    )
    assert body == {"status": "ok"}
    assert asked == ["https://x/health"] * 3


def test_health_wait_gives_up_at_the_timeout_with_the_last_answer() -> None:
    now = [0.0]

    def get(url: str, headers: Mapping[str, str], timeout_s: float) -> HealthAnswer:
        now[0] += 1
        return HealthAnswer(503, {"llama": "connection refused"})

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(DeployError, match=r"503.*connection refused"):
        wait_for_health("https://x", {}, 30, log=quiet, get=get, sleep=sleep, clock=lambda: now[0])
