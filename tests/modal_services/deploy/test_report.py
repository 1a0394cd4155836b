"""What a successful deploy prints: the environment block that points unmute at the
deployment, ready-to-paste test commands, and the env file only its owner can read."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from modal_services.config import ModalDeployConfig
from modal_services.deploy import report
from modal_services.deploy.report import env_block, write_env_file
from modal_services.deploy.steps import DeployResult

RESULT = DeployResult(tts_url="https://w--tts.modal.run", llama_url="https://l", api_key="k1")


def test_the_env_block_points_the_orpheus_backend_at_the_service_with_its_key() -> None:
    block = env_block(RESULT, ModalDeployConfig.model_construct())
    assert "ORPHEUS_FASTAPI_URL=https://w--tts.modal.run" in block.splitlines()
    assert "ORPHEUS_API_KEY=k1" in block.splitlines()
    assert "UNMUTE_TTS_BACKEND=orpheus" in block.splitlines()


def test_a_kept_key_is_not_printed_and_the_block_says_so() -> None:
    kept = DeployResult(tts_url=RESULT.tts_url, llama_url=RESULT.llama_url, api_key=None)
    block = env_block(kept, ModalDeployConfig.model_construct())
    assert "ORPHEUS_API_KEY=" not in block.replace("# ORPHEUS_API_KEY", "")
    assert "ORPHEUS_API_KEY unchanged" in block


def test_proxy_auth_adds_the_proxy_token_variables() -> None:
    plain = env_block(RESULT, ModalDeployConfig.model_construct(proxy_auth=False))
    proxied = env_block(RESULT, ModalDeployConfig.model_construct(proxy_auth=True))
    assert "ORPHEUS_MODAL_KEY" not in plain
    assert "ORPHEUS_MODAL_KEY=" in proxied and "ORPHEUS_MODAL_SECRET=" in proxied


def test_printed_commands_cover_health_speech_and_both_websockets() -> None:
    commands = report.test_commands(RESULT, ModalDeployConfig.model_construct())
    assert "curl -sS https://w--tts.modal.run/health" in commands
    assert "/v1/audio/speech" in commands
    assert "unmute-tts say" in commands  # /api/tts_streaming through the orpheus backend
    assert "wss://w--tts.modal.run/v1/audio/speech/stream/ws" in commands
    assert "pytest -m live" in commands and "bench/live.py" in commands


def test_proxy_auth_commands_send_the_proxy_token_headers() -> None:
    commands = report.test_commands(RESULT, ModalDeployConfig.model_construct(proxy_auth=True))
    assert "Modal-Key: $ORPHEUS_MODAL_KEY" in commands


def test_the_env_file_is_readable_by_its_owner_only_and_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "orpheus.env"
    write_env_file(path, env_block(RESULT, ModalDeployConfig.model_construct()))
    assert path.stat().st_mode & 0o777 == 0o600
    assert dotenv_values(path)["ORPHEUS_API_KEY"] == "k1"
