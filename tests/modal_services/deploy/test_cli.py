"""The deploy command: its dry run, its registration, its options, and the `modal`
commands it runs."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from modal_services.config import ModalDeployConfig
from modal_services.deploy.cli import DeployCredentials, add_arguments, options_from_args
from modal_services.deploy.ops import RealModalOps
from modal_services.deploy.plan import DeployError
from tests.modal_services.helpers import ROOT, clean_env, run_python
from unmute.tts.settings import load_settings


def test_dry_run_prints_the_plan_offline(tmp_path: Path) -> None:
    result = run_python(["deploy_orpheus_modal.py", "--dry-run"], clean_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "modal deploy -m modal_services.orpheus_llama_modal" in out
    assert "modal deploy -m modal_services.orpheus_fastapi_modal" in out
    image = ModalDeployConfig.model_construct().llama_image
    assert f"llama-server ({image}) on L40S" in out and "OrpheusTTS on L4" in out
    assert "/health" in out
    assert "modal token info" in out and "modal token new" in out
    assert "server-cuda-b" in out and "torch==2.13.0+cu128" in out


def test_without_a_modal_token_modal_refuses_and_nothing_is_deployed(tmp_path: Path) -> None:
    # Step 1 is Modal's own check (`modal token info`); it fails offline without a token.
    result = run_python(["deploy_orpheus_modal.py"], clean_env(tmp_path), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "FAILED at step 'credentials'" in result.stderr
    assert "modal token new" in result.stderr
    assert "no app was deployed" in result.stderr
    assert "[2/" not in result.stdout


def test_unmute_tts_deploy_is_registered(
    no_modal_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unmute.tts.cli import main

    assert main(["deploy", "--dry-run"]) == 0
    assert "Deploy plan" in capsys.readouterr().out


def test_modal_deploy_runs_with_the_planned_config_and_reports_its_failure(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    status = [0]

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append((command, kwargs["env"]))
        return subprocess.CompletedProcess(command, status[0], "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    ops = RealModalOps(ModalDeployConfig(llama_gpu="H100", parallel_slots=8), "staging")
    ops.deploy(cfg.LLAMA_MODULE)
    command, env = seen[0]
    assert command[1:] == ["-m", "modal", "deploy", "-m", cfg.LLAMA_MODULE, "--env", "staging"]
    assert env["ORPHEUS_MODAL_LLAMA_GPU"] == "H100"
    assert env["ORPHEUS_MODAL_PARALLEL_SLOTS"] == "8"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)
    status[0] = 1
    with pytest.raises(DeployError, match=r"`modal deploy -m modal_services\.orpheus_fastapi"):
        ops.deploy(cfg.TTS_MODULE)


def deploy_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(flags))


def test_the_keys_in_a_dot_env_file_reach_the_deploy(isolated_env: None) -> None:
    Path(".env").write_text(
        "ORPHEUS_API_KEY=kept-key\nORPHEUS_MODAL_KEY=wk-id\nORPHEUS_MODAL_SECRET=ws-secret\n"
    )
    options = options_from_args(deploy_args(), load_settings(DeployCredentials))
    assert (options.api_key, options.modal_key, options.modal_secret) == (
        "kept-key",
        "wk-id",
        "ws-secret",
    )


def test_a_rotated_key_ignores_the_one_in_the_environment(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_API_KEY", "old-key")
    options = options_from_args(deploy_args("--rotate-key"), load_settings(DeployCredentials))
    assert options.api_key is None
