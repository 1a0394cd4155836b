"""The key between the TTS service and llama-server: what each side reads from the
Secret, the key file llama-server gets, and a rotation without a refused request."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from modal_services import llama_keys as keys
from modal_services.config import ModalDeployConfig
from modal_services.deploy.plan import DeployOptions
from modal_services.deploy.steps import deploy
from tests.modal_services.fake_ops import FakeOps, quiet


def test_llama_server_accepts_the_key_and_the_next_key() -> None:
    assert keys.accepted_llama_keys({keys.LLAMA_API_KEY: "a"}) == ["a"]
    both = {keys.LLAMA_API_KEY: "a", keys.LLAMA_NEXT_API_KEY: "b"}
    assert keys.accepted_llama_keys(both) == ["a", "b"]
    assert keys.accepted_llama_keys({keys.LLAMA_API_KEY: "a", keys.LLAMA_NEXT_API_KEY: ""}) == ["a"]
    assert keys.accepted_llama_keys({}) == []


def test_service_sends_the_next_key_only_once_switched_to_it() -> None:
    secret = {keys.LLAMA_API_KEY: "a", keys.LLAMA_NEXT_API_KEY: "b"}
    assert keys.llama_key_to_send(secret) == "a"
    assert keys.llama_key_to_send({**secret, keys.LLAMA_SEND_NEXT_KEY: "1"}) == "b"
    assert keys.llama_key_to_send({keys.LLAMA_API_KEY: "a", keys.LLAMA_SEND_NEXT_KEY: "1"}) == "a"
    assert keys.llama_key_to_send({}) is None


def test_a_key_llama_server_would_misread_is_refused_naming_the_variable() -> None:
    for bad in ("two words", "a,b", "#comment"):
        with pytest.raises(ValueError, match=keys.LLAMA_NEXT_API_KEY):
            keys.accepted_llama_keys({keys.LLAMA_NEXT_API_KEY: bad})


def test_key_file_holds_one_key_per_line_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = keys.write_api_key_file(["a", "b"], str(tmp_path / "keys"))
    assert path is not None and path == str(tmp_path / "keys")
    assert Path(path).read_text() == "a\nb\n"
    assert Path(path).stat().st_mode & 0o777 == 0o600
    assert keys.write_api_key_file([], str(tmp_path / "none")) is None
    assert not (tmp_path / "none").exists()


def test_the_key_file_is_passed_to_llama_server_by_path() -> None:
    command = cfg.llama_server_command(ModalDeployConfig(), api_key_file="/tmp/llama-api-keys")
    assert command[command.index("--api-key-file") + 1] == "/tmp/llama-api-keys"


def violations(calls: list[tuple[str, Any]], initial: Mapping[str, str]) -> list[str]:
    """Moments of a deploy where a running TTS container would send a key that a llama
    container able to receive its request refuses.

    Containers read the Secret when they start, and may start at any moment (the
    autoscaler). A llama deploy sends every later request to containers started after
    it. TTS containers started before the rotation keep serving open sessions until
    the old key is retired (the last step, the documented limit)."""
    secret = dict(initial)
    llama_serving = [dict(secret)]  # containers that may answer: started since the last deploy
    tts_all = [dict(secret)]  # every TTS container that may still send requests
    tts_current = [dict(secret)]  # those started since the last TTS deploy
    retiring = False
    found: list[str] = []
    for name, arg in calls:
        if name in ("create_secret", "update_secret"):
            secret.update(arg)
            retiring = retiring or keys.LLAMA_API_KEY in arg
            for started in (llama_serving, tts_all, tts_current):
                started.append(dict(secret))
        elif name == "deploy" and arg == cfg.LLAMA_MODULE:
            llama_serving = [dict(secret)]
        elif name == "deploy" and arg == cfg.TTS_MODULE:
            tts_current = [dict(secret)]
        for tts in tts_current if retiring else tts_all:
            sent = keys.llama_key_to_send(tts)
            for llama in llama_serving:
                if sent not in keys.accepted_llama_keys(llama):
                    found.append(f"after {name}({arg}): {sent} refused by {llama}")
    return found


def rotate(ops: FakeOps) -> None:
    deploy(
        ModalDeployConfig(),
        DeployOptions(rotate_key=True),
        ops,
        log=quiet,
        wait_health=ops.health,
    )


def test_rotation_never_leaves_a_tts_container_with_a_refused_key() -> None:
    initial = {keys.LLAMA_API_KEY: "old-key", cfg.SECRET_API_KEY: "client"}
    ops = FakeOps(secret_exists=True, secret=initial)
    rotate(ops)
    assert violations(ops.calls, initial) == []
    assert ops.secret[keys.LLAMA_API_KEY] != "old-key"
    assert keys.accepted_llama_keys(ops.secret) == [ops.secret[keys.LLAMA_API_KEY]]
    assert keys.llama_key_to_send(ops.secret) == ops.secret[keys.LLAMA_API_KEY]


def test_writing_the_new_key_first_would_refuse_requests() -> None:
    # What the deploy did before: the new key straight into the Secret, then redeploys.
    initial = {keys.LLAMA_API_KEY: "old-key"}
    naive = [
        ("update_secret", {keys.LLAMA_API_KEY: "new-key"}),
        ("deploy", cfg.LLAMA_MODULE),
        ("deploy", cfg.TTS_MODULE),
    ]
    assert violations(naive, initial)


def test_rotation_steps_run_in_the_order_that_keeps_requests_accepted() -> None:
    ops = FakeOps(secret_exists=True, secret={keys.LLAMA_API_KEY: "old-key"})
    rotate(ops)
    order = [
        (name, arg) for name, arg in ops.calls if name in ("update_secret", "deploy", "health")
    ]
    new = ops.secret[keys.LLAMA_API_KEY]
    llama_url, tts_url = ops.llama, ops.tts
    assert order == [
        ("update_secret", {keys.LLAMA_NEXT_API_KEY: new, keys.LLAMA_SEND_NEXT_KEY: "0"}),
        ("deploy", cfg.LLAMA_MODULE),
        ("health", llama_url),
        (
            "update_secret",
            {
                cfg.SECRET_LLAMA_ENDPOINT: llama_url,
                cfg.SECRET_API_KEY: ops.secret[cfg.SECRET_API_KEY],
                keys.LLAMA_SEND_NEXT_KEY: "1",
            },
        ),
        ("deploy", cfg.TTS_MODULE),
        ("health", tts_url),
        (
            "update_secret",
            {keys.LLAMA_API_KEY: new, keys.LLAMA_NEXT_API_KEY: "", keys.LLAMA_SEND_NEXT_KEY: "0"},
        ),
        ("deploy", cfg.LLAMA_MODULE),
        ("health", llama_url),
    ]
