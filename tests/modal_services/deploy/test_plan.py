"""The deploy's plan: the steps it will run, in order, each saying what it does with the
configuration given, and the text `--dry-run` prints."""

from __future__ import annotations

import sys

from modal_services.config import LLAMA_MODULE, ModalDeployConfig
from modal_services.deploy.plan import DeployOptions, deploy_command, format_plan, plan, shown


def names(options: DeployOptions, config: ModalDeployConfig | None = None) -> list[str]:
    return [step.name for step in plan(config or ModalDeployConfig.model_construct(), options)]


def test_a_first_deploy_checks_credentials_first_and_reports_last() -> None:
    assert names(DeployOptions()) == [
        "credentials",
        "secret",
        "deploy llama",
        "download model",
        "llama url",
        "llama health",
        "tts secret",
        "deploy tts",
        "tts health",
        "report",
    ]


def test_the_model_prefetch_step_is_left_out_when_not_asked() -> None:
    assert "download model" not in names(DeployOptions(prefetch_model=False))


def test_a_key_rotation_retires_the_old_llama_key_after_the_tts_is_healthy() -> None:
    steps = names(DeployOptions(rotate_key=True))
    assert steps.index("tts health") < steps.index("retire old llama key") < steps.index("report")


def test_the_steps_show_the_configured_gpus_and_app_names() -> None:
    config = ModalDeployConfig.model_construct(
        llama_gpu="H100", tts_gpu="A10", llama_app_name="my-llama", tts_app_name="my-tts"
    )
    what = {step.name: step.what for step in plan(config, DeployOptions())}
    assert "on H100" in what["deploy llama"] and "'my-llama'" in what["deploy llama"]
    assert "on A10" in what["deploy tts"] and "'my-tts'" in what["deploy tts"]


def test_deploy_commands_run_modal_with_this_python_and_show_as_modal() -> None:
    command = deploy_command(LLAMA_MODULE, "staging")
    assert command[:3] == [sys.executable, "-m", "modal"]
    assert shown(command) == f"modal deploy -m {LLAMA_MODULE} --env staging"


def test_the_printed_plan_numbers_every_step_and_states_the_health_budget() -> None:
    options = DeployOptions(health_timeout_s=300)
    text = format_plan(ModalDeployConfig.model_construct(), options)
    steps = plan(ModalDeployConfig.model_construct(), options)
    for number, step in enumerate(steps, 1):
        assert f"{number}. {step.name}: " in text
    assert "at most 300 s in all" in text
