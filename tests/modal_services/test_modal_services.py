"""The Modal wrappers and their deployment, offline: no Modal credentials, no network.

- Both Modal modules import with no credentials and no network, and declare the
  configuration of modal_services/config.py (GPU, volume, secret, concurrency,
  timeouts, proxy auth), checked on the Modal objects where they expose it.
- The llama-server command line deployed is the one `build_llama_server_command`
  builds (the builder the local llama tests run).
- `deploy_orpheus_modal.py --dry-run` prints the plan; a missing token is a clear
  error; a failed step is never reported as success.
- The live tests and bench/live.py skip or stop cleanly without a deployment, and the
  live tests pass against a local service (fake engine), so they are runnable code.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from modal_services import config as cfg
from modal_services import deploy as dp
from modal_services.config import ModalDeployConfig
from orpheus_service.llama.server import LlamaServerConfig, build_llama_server_command

ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without Modal credentials or ORPHEUS_* settings, HOME=home."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "ORPHEUS_", "UNMUTE_"))
    }
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_python(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` in the repository root, capturing text output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def no_modal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME is an empty folder and no MODAL_*/ORPHEUS_* variable is set."""
    for key in list(os.environ):
        if key.startswith(("MODAL_", "ORPHEUS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env file
    return tmp_path


# -- configuration ---------------------------------------------------------------------------


def test_defaults_put_llama_on_l40s_and_the_service_on_l4(no_modal_env: Path) -> None:
    config = ModalDeployConfig()
    assert config.llama_gpu == "L40S"
    assert config.tts_gpu == "L4"
    assert config.model_name == "Orpheus-3b-FT-Q8_0.gguf"
    assert config.model_repo == "lex-au/Orpheus-3b-FT-Q8_0.gguf"


def test_model_name_is_the_services_orpheus_model_name_variable(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_MODEL_NAME", "Orpheus-3b-FT-Q4_K_M.gguf")
    config = ModalDeployConfig()
    assert config.model_name == "Orpheus-3b-FT-Q4_K_M.gguf"
    assert config.model_path == "/models/Orpheus-3b-FT-Q4_K_M.gguf"


def test_context_is_sized_for_every_parallel_stream(no_modal_env: Path) -> None:
    config = ModalDeployConfig(parallel_slots=16, ctx_per_slot=4096)
    assert config.ctx_size == 16 * 4096
    assert cfg.llama_concurrency(config) == {"max_inputs": 16}


def test_scaling_settings_reach_the_declared_options(no_modal_env: Path) -> None:
    config = ModalDeployConfig(
        llama_scaledown_window_s=120,
        llama_min_containers=1,
        llama_max_containers=3,
        tts_scaledown_window_s=60,
        tts_min_containers=2,
    )
    llama = cfg.llama_function_options(config)
    tts = cfg.tts_cls_options(config)
    assert llama["scaledown_window"] == 120
    assert llama["min_containers"] == 1
    assert llama["max_containers"] == 3
    assert tts["scaledown_window"] == 60
    assert tts["min_containers"] == 2
    assert "max_containers" not in tts


def test_tts_concurrency_targets_the_session_limit_and_caps_inputs(no_modal_env: Path) -> None:
    config = ModalDeployConfig(tts_max_sessions=24, tts_max_inputs=30)
    assert cfg.tts_concurrency(config) == {"max_inputs": 30, "target_inputs": 24}
    assert cfg.tts_service_env(config)["ORPHEUS_MAX_SESSIONS"] == "24"


def test_fewer_inputs_than_sessions_is_an_error_naming_both_variables(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHEUS_MODAL_TTS_MAX_INPUTS", "8")
    with pytest.raises(ValueError, match=r"ORPHEUS_MODAL_TTS_MAX_INPUTS=8.*TTS_MAX_SESSIONS=32"):
        ModalDeployConfig.load()


def test_container_env_reproduces_the_deploy_time_config(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ModalDeployConfig(
        llama_gpu="H100",
        parallel_slots=8,
        proxy_auth=True,
        model_name="x.gguf",
        llama_max_containers=2,
    )
    for key, value in cfg.container_env(config).items():
        monkeypatch.setenv(key, value)
    assert ModalDeployConfig() == config


def test_proxy_auth_flag_is_declared_on_the_asgi_app(no_modal_env: Path) -> None:
    assert cfg.tts_asgi_options(ModalDeployConfig()) == {"requires_proxy_auth": False}
    assert cfg.tts_asgi_options(ModalDeployConfig(proxy_auth=True)) == {"requires_proxy_auth": True}


def test_service_image_installs_every_service_and_core_requirement() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = [*project["dependencies"], *project["optional-dependencies"]["service"]]

    def name(requirement: str) -> str:
        for sep in "<>=!~[; ":
            requirement = requirement.split(sep)[0]
        return requirement.lower().replace("_", "-")

    installed = {name(r) for r in cfg.TTS_PIP_PACKAGES}
    assert {name(r) for r in required} <= installed


IMPORTED = """
import json, sys
before = set(sys.modules)
from modal_services.config import ModalDeployConfig
ModalDeployConfig.load()
import {runtime}
names = {{m.split(".")[0] for m in set(sys.modules) - before}}
print(json.dumps(sorted(n for n in names if n not in sys.stdlib_module_names)))
"""


def requirement_name(requirement: str) -> str:
    for sep in "<>=!~[; (":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower().replace("_", "-")


def installed_closure(requirements: Sequence[str]) -> set[str]:
    """The distributions `requirements` install, with their dependencies (no extras)."""
    from importlib.metadata import PackageNotFoundError, requires

    todo = [requirement_name(r) for r in requirements]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            deps = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [requirement_name(d) for d in deps if "extra ==" not in d]
    return seen


def imported_by_local_code() -> set[str]:
    """Top-level names of the modules imported by the packages added to the images."""
    import ast

    names: set[str] = set()
    for package in cfg.LOCAL_SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(cfg.LOCAL_SOURCES)


@pytest.mark.parametrize(
    ("runtime", "packages"),
    [
        ("modal_services.llama_runtime", cfg.LLAMA_PIP_PACKAGES),
        ("modal_services.tts_runtime", cfg.TTS_PIP_PACKAGES),
    ],
    ids=["llama", "tts"],
)
def test_each_image_installs_what_its_container_imports(
    tmp_path: Path, runtime: str, packages: Sequence[str]
) -> None:
    from importlib.metadata import packages_distributions

    result = run_python(["-c", IMPORTED.format(runtime=runtime)], clean_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    # Modules the container loads that our own code imports (third-party packages'
    # optional imports of whatever is installed here are not the image's business).
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1])) & imported_by_local_code()
    distributions = packages_distributions()
    installed = installed_closure(packages)
    missing = {
        module
        for module in loaded
        if not {requirement_name(d) for d in distributions.get(module, [module])} & installed
    }
    assert not missing, f"{runtime} imports {sorted(missing)}, which its image does not install"


def test_snac_weights_are_baked_into_the_folder_the_service_loads(no_modal_env: Path) -> None:
    config = ModalDeployConfig(snac_dir="/opt/snac")
    command = cfg.snac_bake_command(config)
    assert "hubertsiuzdak/snac_24khz" in command
    assert "config.json" in command and "pytorch_model.bin" in command
    assert "/opt/snac" in command
    assert cfg.tts_service_env(config)["ORPHEUS_SNAC_MODEL"] == "/opt/snac"
    assert cfg.tts_service_env(config)["ORPHEUS_SNAC_DEVICE"] == "cuda"


# -- the Modal modules ---------------------------------------------------------------------

DECLARED = """
import json, socket

def no_network(*args, **kwargs):
    raise OSError("network used while importing a Modal module")

socket.socket.connect = no_network
socket.create_connection = no_network
socket.getaddrinfo = no_network

import modal_services.orpheus_llama_modal as llama
import modal_services.orpheus_fastapi_modal as tts
from modal._utils.async_utils import synchronizer

def public(info):
    return {
        "gpus": info.gpus,
        "timeout": info.timeout,
        "startup_timeout": info.startup_timeout,
        "max_inputs": info.concurrency_info and info.concurrency_info.max_inputs,
        "target_inputs": info.concurrency_info and info.concurrency_info.target_inputs,
        "volumes": {path: mount.name for path, mount in info.volumes.items()},
        "secrets": info.secrets,
        "web": info.web_info and not info.web_info.unauthenticated,
        "methods": {
            name: not web.unauthenticated for name, web in (info.method_details or {}).items()
        },
    }

service = synchronizer._translate_in(tts.OrpheusTTS)._get_class_service_function()
print(json.dumps({
    "serve": public(llama.serve.info()),
    "download": public(llama.download_model.info()),
    "tts": public(synchronizer._translate_out(service).info()),
}))
"""


def declared(home: Path, **env: str) -> dict[str, Any]:
    """What the two modules declare, imported in a clean process with no network."""
    result = run_python(["-c", DECLARED], clean_env(home, **env))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_modules_import_without_credentials_or_network_and_declare_the_defaults(
    tmp_path: Path,
) -> None:
    d = declared(tmp_path)
    secret = ["modal.Secret.from_name('orpheus-tts')"]
    assert d["serve"] == {
        "gpus": [["L40S", 1]],
        "timeout": 600,
        "startup_timeout": 900,
        "max_inputs": 32,
        "target_inputs": None,
        "volumes": {"/models": "orpheus-models"},
        "secrets": secret,
        "web": False,
        "methods": {},
    }
    assert d["download"]["gpus"] == []
    assert d["download"]["volumes"] == {"/models": "orpheus-models"}
    assert d["tts"] == {
        "gpus": [["L4", 1]],
        "timeout": 1800,
        "startup_timeout": 300,
        "max_inputs": 40,
        "target_inputs": 32,
        "volumes": {},
        "secrets": secret,
        "web": None,
        "methods": {"web": False},
    }


def test_deploy_time_settings_change_what_the_modules_declare(tmp_path: Path) -> None:
    d = declared(
        tmp_path,
        ORPHEUS_MODAL_LLAMA_GPU="H100",
        ORPHEUS_MODAL_TTS_GPU="A10",
        ORPHEUS_MODAL_PARALLEL_SLOTS="8",
        ORPHEUS_MODAL_TTS_MAX_SESSIONS="16",
        ORPHEUS_MODAL_TTS_MAX_INPUTS="20",
        ORPHEUS_MODAL_SECRET_NAME="other-secret",
        ORPHEUS_MODAL_MODELS_VOLUME="other-volume",
        ORPHEUS_MODAL_PROXY_AUTH="true",
    )
    assert d["serve"]["gpus"] == [["H100", 1]]
    assert d["serve"]["max_inputs"] == 8
    assert d["serve"]["volumes"] == {"/models": "other-volume"}
    assert d["tts"]["gpus"] == [["A10", 1]]
    assert (d["tts"]["max_inputs"], d["tts"]["target_inputs"]) == (20, 16)
    assert d["tts"]["secrets"] == ["modal.Secret.from_name('other-secret')"]
    assert d["tts"]["methods"] == {"web": True}  # proxy auth required


@pytest.fixture(scope="module")
def modules() -> tuple[Any, Any]:
    import modal_services.orpheus_fastapi_modal as tts
    import modal_services.orpheus_llama_modal as llama

    return llama, tts


def test_llama_web_server_waits_for_the_model_load_on_its_port(modules: tuple[Any, Any]) -> None:
    from modal._utils.async_utils import synchronizer

    llama, _ = modules
    webhook = getattr(synchronizer._translate_in(llama.serve), "_webhook_config", None)
    if webhook is None:
        pytest.skip("this modal version does not expose a function's web server settings")
    options = cfg.llama_web_server_options(llama.CONFIG)
    assert webhook.web_server_port == options["port"] == llama.CONFIG.llama_port
    assert webhook.web_server_startup_timeout == options["startup_timeout"]
    assert options["startup_timeout"] == llama.CONFIG.llama_startup_timeout_s


def test_tts_class_loads_at_enter_and_serves_an_asgi_app(modules: tuple[Any, Any]) -> None:
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer
    from modal_proto import api_pb2

    _, tts = modules
    cls: Any = synchronizer._translate_in(tts.OrpheusTTS)
    partials = cls._get_partial_functions()
    assert set(partials) == {"load", "web"}
    webhook = partials["web"].params.webhook_config
    assert webhook is not None and webhook.type == api_pb2.WEBHOOK_TYPE_ASGI_APP
    assert partials["load"].flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT
    assert webhook.requires_proxy_auth is tts.CONFIG.proxy_auth


def test_apps_are_named_by_the_config(modules: tuple[Any, Any]) -> None:
    llama, tts = modules
    assert llama.app.name == llama.CONFIG.llama_app_name
    assert tts.app.name == tts.CONFIG.tts_app_name


def test_deployed_llama_command_is_the_shared_builders(no_modal_env: Path) -> None:
    from modal_services.llama_runtime import llama_process

    config = ModalDeployConfig()
    expected = build_llama_server_command(
        "/app/llama-server",
        LlamaServerConfig(
            model_path="/models/Orpheus-3b-FT-Q8_0.gguf",
            host="0.0.0.0",
            port=8080,
            n_gpu_layers=999,
            parallel=32,
            ctx_size=32 * 2048,
            metrics=True,
            alias="Orpheus-3b-FT-Q8_0.gguf",
            api_key_file="/tmp/keys",
        ),
    )
    process = llama_process(config, api_key_file="/tmp/keys")
    assert process.command == expected
    assert cfg.llama_server_command(config, api_key_file="/tmp/keys") == expected
    pairs = set(itertools.pairwise(expected))
    assert {("-ngl", "999"), ("-np", "32"), ("-c", "65536"), ("--host", "0.0.0.0")} <= pairs


def test_llama_key_is_only_enforced_once_the_service_can_send_it() -> None:
    from orpheus_service.settings import OrpheusSettings

    assert cfg.llama_auth_supported() == ("llama_api_key" in OrpheusSettings.model_fields)


# -- credentials -----------------------------------------------------------------------------


def test_tokens_in_the_environment_are_found(tmp_path: Path) -> None:
    env = {"MODAL_TOKEN_ID": "ak-1", "MODAL_TOKEN_SECRET": "as-1"}
    assert dp.modal_credentials_source(env, tmp_path) == "MODAL_TOKEN_ID/MODAL_TOKEN_SECRET"


def test_token_of_the_active_profile_in_modal_toml_is_found(tmp_path: Path) -> None:
    (tmp_path / ".modal.toml").write_text(
        textwrap.dedent(
            """
            [old]
            token_id = "ak-old"
            token_secret = "as-old"

            [work]
            token_id = "ak-work"
            token_secret = "as-work"
            active = true
            """
        )
    )
    source = dp.modal_credentials_source({}, tmp_path)
    assert source is not None and "'work'" in source


def test_a_profile_without_tokens_counts_as_missing(tmp_path: Path) -> None:
    (tmp_path / ".modal.toml").write_text('[default]\nloglevel = "INFO"\n')
    assert dp.modal_credentials_source({}, tmp_path) is None
    with pytest.raises(dp.MissingModalCredentials, match="modal token new"):
        dp.check_modal_credentials({}, tmp_path)


def test_one_token_half_in_the_environment_is_not_enough(tmp_path: Path) -> None:
    assert dp.modal_credentials_source({"MODAL_TOKEN_ID": "ak-1"}, tmp_path) is None


# -- the deploy command ------------------------------------------------------------------------


def test_dry_run_prints_the_plan_offline(tmp_path: Path) -> None:
    result = run_python(["deploy_orpheus_modal.py", "--dry-run"], clean_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "modal deploy -m modal_services.orpheus_llama_modal" in out
    assert "modal deploy -m modal_services.orpheus_fastapi_modal" in out
    assert "llama-server on L40S" in out and "OrpheusTTS on L4" in out
    assert "/health" in out
    assert "Modal credentials: MISSING" in out and "modal token new" in out


def test_unmute_tts_deploy_is_registered(
    no_modal_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unmute.tts.cli import main

    assert main(["deploy", "--dry-run"]) == 0
    assert "Deploy plan" in capsys.readouterr().out


def test_missing_token_is_a_clear_error_and_nothing_is_attempted(tmp_path: Path) -> None:
    result = run_python(["deploy_orpheus_modal.py"], clean_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "no Modal credentials found" in result.stderr
    assert "modal token new" in result.stderr
    assert "[1/" not in result.stdout  # no step started


class FakeOps:
    """ModalOps that records calls; `fail_at` names a method that raises."""

    def __init__(self, *, secret_exists: bool = False, fail_at: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.secret: dict[str, str] = {}
        self._exists = secret_exists
        self.fail_at = fail_at

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if name == self.fail_at:
            raise dp.DeployError(f"{name} broke")

    def whoami(self) -> str:
        self._call("whoami")
        return "Workspace: test"

    def secret_exists(self, name: str) -> bool:
        self._call("secret_exists", name)
        return self._exists

    def put_secret(self, name: str, values: Mapping[str, str], *, exists: bool) -> None:
        self._call("put_secret", dict(values))
        self.secret.update(values)

    def deploy(self, module: str) -> None:
        self._call("deploy", module)

    def prefetch_model(self, config: ModalDeployConfig) -> str:
        self._call("prefetch_model")
        return "model present"

    def llama_url(self, config: ModalDeployConfig) -> str:
        self._call("llama_url")
        return "https://ws--orpheus-llama-cpp-serve.modal.run"

    def tts_url(self, config: ModalDeployConfig) -> str:
        self._call("tts_url")
        return "https://ws--orpheus-fastapi-tts-orpheustts-web.modal.run"


def healthy(url: str, headers: Mapping[str, str], timeout_s: float) -> dict[str, str]:
    return {"status": "ok"}


@pytest.fixture
def with_token(no_modal_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")


def quiet(_: str) -> None:
    pass


def test_first_deploy_runs_the_steps_in_order_and_generates_the_key(with_token: None) -> None:
    ops = FakeOps()
    checked: list[str] = []

    def health(url: str, headers: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        checked.append(url)
        return {"status": "ok"}

    result = dp.deploy(ModalDeployConfig(), dp.DeployOptions(), ops, log=quiet, wait_health=health)
    assert checked == [result.llama_url, result.tts_url]
    order = [name for name, _ in ops.calls]
    assert order == [
        "whoami",
        "secret_exists",
        "put_secret",
        "deploy",
        "prefetch_model",
        "llama_url",
        "put_secret",
        "deploy",
        "tts_url",
    ]
    assert [arg for name, arg in ops.calls if name == "deploy"] == [
        cfg.LLAMA_MODULE,
        cfg.TTS_MODULE,
    ]
    assert result.api_key and ops.secret[cfg.SECRET_API_KEY] == result.api_key
    assert ops.secret[cfg.SECRET_LLAMA_API_KEY] != result.api_key
    assert ops.secret[cfg.SECRET_LLAMA_ENDPOINT] == result.llama_url
    block = dp.env_block(result, ModalDeployConfig())
    assert f"ORPHEUS_FASTAPI_URL={result.tts_url}" in block
    assert f"ORPHEUS_API_KEY={result.api_key}" in block
    assert "UNMUTE_TTS_BACKEND=orpheus" in block


def test_redeploy_keeps_the_secrets_key(with_token: None) -> None:
    ops = FakeOps(secret_exists=True)
    result = dp.deploy(ModalDeployConfig(), dp.DeployOptions(), ops, log=quiet, wait_health=healthy)
    assert result.api_key is None
    assert ops.secret == {cfg.SECRET_LLAMA_ENDPOINT: result.llama_url}
    assert "ORPHEUS_API_KEY unchanged" in dp.env_block(result, ModalDeployConfig())


def test_rotate_key_writes_new_keys_into_the_existing_secret(with_token: None) -> None:
    ops = FakeOps(secret_exists=True)
    result = dp.deploy(
        ModalDeployConfig(),
        dp.DeployOptions(rotate_key=True),
        ops,
        log=quiet,
        wait_health=healthy,
    )
    assert result.api_key is not None
    assert ops.secret[cfg.SECRET_API_KEY] == result.api_key
    assert cfg.SECRET_LLAMA_API_KEY in ops.secret


def test_a_failed_tts_deploy_is_an_error_that_names_what_is_deployed(with_token: None) -> None:
    ops = FakeOps(fail_at="tts_url")
    with pytest.raises(dp.DeployError) as caught:
        dp.deploy(ModalDeployConfig(), dp.DeployOptions(), ops, log=quiet, wait_health=healthy)
    message = str(caught.value)
    assert "FAILED at step 'deploy tts'" in message
    assert "tts_url broke" in message
    assert "NOT a working service" in message
    assert "'orpheus-llama-cpp'" in message


def test_an_unhealthy_service_fails_the_deploy(with_token: None) -> None:
    def never(url: str, headers: Mapping[str, str], timeout_s: float) -> Any:
        raise dp.DeployError(f"{url}/health did not answer 200 within {timeout_s:.0f} s")

    with pytest.raises(dp.DeployError, match="FAILED at step 'health'"):
        dp.deploy(
            ModalDeployConfig(),
            dp.DeployOptions(health_timeout_s=5),
            FakeOps(),
            log=quiet,
            wait_health=never,
        )


def test_run_exits_1_and_never_prints_success_when_a_step_fails(
    with_token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    dp.add_arguments(parser)
    status = dp.run(parser.parse_args([]), ops=FakeOps(fail_at="deploy"))
    out, err = capsys.readouterr()
    assert status == 1
    assert "Deployed and healthy" not in out
    assert "FAILED at step 'deploy llama'" in err
    assert "no app was deployed" in err


def test_proxy_auth_without_a_proxy_token_stops_before_deploying(
    with_token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = FakeOps()
    with pytest.raises(dp.DeployError, match="ORPHEUS_MODAL_KEY"):
        dp.deploy(
            ModalDeployConfig(proxy_auth=True),
            dp.DeployOptions(),
            ops,
            log=quiet,
            wait_health=healthy,
        )
    assert ("deploy", cfg.LLAMA_MODULE) not in ops.calls


def test_modal_deploy_runs_with_the_planned_config_and_reports_its_failure(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    status = [0]

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append((command, kwargs["env"]))
        return subprocess.CompletedProcess(command, status[0], "", "")

    monkeypatch.setattr(dp.subprocess, "run", fake_run)
    ops = dp.RealModalOps(ModalDeployConfig(llama_gpu="H100", parallel_slots=8), "staging")
    ops.deploy(cfg.LLAMA_MODULE)
    command, env = seen[0]
    assert command[1:] == ["-m", "modal", "deploy", "-m", cfg.LLAMA_MODULE, "--env", "staging"]
    assert env["ORPHEUS_MODAL_LLAMA_GPU"] == "H100"
    assert env["ORPHEUS_MODAL_PARALLEL_SLOTS"] == "8"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)
    status[0] = 1
    with pytest.raises(dp.DeployError, match=r"`modal deploy -m modal_services\.orpheus_fastapi"):
        ops.deploy(cfg.TTS_MODULE)


def test_health_wait_polls_until_200() -> None:
    answers = iter([(0, None), (503, {"status": "starting"}), (200, {"status": "ok"})])
    now = [0.0]

    def get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, Any]:
        assert url == "https://x/health"
        return next(answers)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    body = dp.wait_for_health(
        "https://x", {}, 60, get=get, sleep=sleep, clock=lambda: now[0], log=quiet
    )
    assert body == {"status": "ok"}


def test_health_wait_gives_up_at_the_timeout_with_the_last_answer() -> None:
    now = [0.0]

    def get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, Any]:
        now[0] += 1
        return 503, {"llama": "connection refused"}

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(dp.DeployError, match=r"503.*connection refused"):
        dp.wait_for_health(
            "https://x", {}, 30, get=get, sleep=sleep, clock=lambda: now[0], log=quiet
        )


def test_test_commands_cover_health_speech_and_both_websockets() -> None:
    result = dp.DeployResult(tts_url="https://w--tts.modal.run", llama_url="https://l", api_key="k")
    commands = dp.test_commands(result, ModalDeployConfig.model_construct())
    assert "curl -sS https://w--tts.modal.run/health" in commands
    assert "/v1/audio/speech" in commands
    assert "unmute-tts say" in commands  # /api/tts_streaming through the orpheus backend
    assert "wss://w--tts.modal.run/v1/audio/speech/stream/ws" in commands
    assert "pytest -m live" in commands and "bench/live.py" in commands


# -- live tests and bench, without a deployment ------------------------------------------------


def test_bench_live_stops_with_a_clear_message_without_a_deployment(tmp_path: Path) -> None:
    result = run_python(["bench/live.py"], clean_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "ORPHEUS_FASTAPI_URL" in result.stderr
    assert "unmute-tts deploy" in result.stderr


def test_bench_goals_are_p50_200ms_at_1_and_p95_500ms_at_16() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import live as bench

    fast = [bench.SessionResult(ttfa_s=0.15, audio_s=3.0, wall_s=1.0)] * 5
    slow = [bench.SessionResult(ttfa_s=0.6, audio_s=3.0, wall_s=1.0)] * 20
    levels = [bench.summarize(1, fast), bench.summarize(16, slow)]
    goals = bench.check_goals(levels)
    assert [(g["goal"], g["met"]) for g in goals] == [
        ("ttfa_p50_ms <= 200 at 1 session(s)", True),
        ("ttfa_p95_ms <= 500 at 16 session(s)", False),
    ]
    assert levels[0].rtf_p50 == pytest.approx(1 / 3, abs=1e-3)


def test_bench_percentiles_interpolate_between_ranks() -> None:
    from bench.live import percentile

    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def run_live_tests(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["-m", "pytest", "-m", "live", "tests/live", "-rs", "-q", "-p", "no:cacheprovider"]
    return run_python(args, env, timeout=300)


def test_live_tests_skip_with_the_reason_without_a_deployment(tmp_path: Path) -> None:
    result = run_live_tests(clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" not in result.stdout and "failed" not in result.stdout
    assert "skipped" in result.stdout
    assert "ORPHEUS_FASTAPI_URL is not set" in result.stdout


@pytest.fixture
def local_service() -> Iterator[str]:
    from tests.support.service_support import FakeEngine, start_fake_service

    server = start_fake_service(FakeEngine(chunk_delay_s=0.01), api_key="live-key")
    try:
        yield server.http
    finally:
        server.stop()


@pytest.mark.slow
def test_live_tests_pass_against_a_local_service(tmp_path: Path, local_service: str) -> None:
    env = clean_env(tmp_path, ORPHEUS_FASTAPI_URL=local_service, ORPHEUS_API_KEY="live-key")
    result = run_live_tests(env)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed" not in summary and "skipped" not in summary, summary


# -- what runs in the containers, on the real stack -------------------------------------------


def test_model_download_is_skipped_when_the_volume_has_it(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf")
    calls: list[str] = []

    def download(c: ModalDeployConfig) -> Path:
        calls.append("download")
        target = Path(c.models_dir) / c.model_name
        target.write_bytes(b"GGUF")
        return target

    first = ensure_model(
        config,
        reload=lambda: calls.append("reload"),
        commit=lambda: calls.append("commit"),
        download=download,
    )
    second = ensure_model(config, reload=lambda: calls.append("reload"), download=download)
    assert first == (tmp_path / "m.gguf", True)
    assert second == (tmp_path / "m.gguf", False)
    assert calls == ["reload", "download", "commit"]


def test_model_another_container_downloaded_is_found_after_a_reload(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf")

    def reload() -> None:
        (tmp_path / "m.gguf").write_bytes(b"GGUF")

    def download(c: ModalDeployConfig) -> Path:
        raise AssertionError("downloaded although the volume had the model")

    assert ensure_model(config, reload=reload, download=download) == (tmp_path / "m.gguf", False)


def test_a_failed_download_names_the_repository_and_file(tmp_path: Path) -> None:
    from modal_services.llama_runtime import ModelDownloadError, ensure_model

    config = ModalDeployConfig(models_dir=str(tmp_path), model_name="m.gguf", model_repo="o/r")

    def download(c: ModalDeployConfig) -> Path:
        raise OSError("404")

    with pytest.raises(ModelDownloadError, match=r"m\.gguf from o/r"):
        ensure_model(config, download=download)


@pytest.mark.llama
def test_llama_container_starts_the_deployed_server_and_enforces_its_key(
    tmp_path: Path, llama_server_binary: Path
) -> None:
    import io
    import shutil
    import time
    import urllib.error
    import urllib.request

    from modal_services.llama_runtime import ensure_model, start_llama_server
    from orpheus_service.llama.server import free_port
    from tests.support.llama import ORPHEUS_USER_DEFINED, model_cache_dir

    tiny = ORPHEUS_USER_DEFINED.write(model_cache_dir())
    config = ModalDeployConfig(
        llama_binary=str(llama_server_binary),
        models_dir=str(tmp_path / "models"),
        model_name=tiny.name,
        llama_port=free_port(),
        parallel_slots=2,
        ctx_per_slot=4096,
        llama_startup_timeout_s=60,
    )
    (tmp_path / "models").mkdir()

    def download(c: ModalDeployConfig) -> Path:
        return Path(shutil.copy(tiny, c.model_path))

    ensure_model(config, download=download)
    out = io.StringIO()
    exits: list[int] = []
    key_path = tmp_path / "keys"
    process = start_llama_server(
        config,
        api_key="llama-key",
        out=out,
        on_exit=exits.append,
        key_path=str(key_path),
        log_path=tmp_path / "llama.log",
        host="127.0.0.1",
    )

    def post(headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            f"{process.base_url}/completion",
            data=json.dumps({"prompt": "hi", "n_predict": 2}).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        with urllib.request.urlopen(f"{process.base_url}/health", timeout=5) as response:
            assert response.status == 200
        assert post({}) == 401
        assert post({"Authorization": "Bearer llama-key"}) == 200
        assert key_path.stat().st_mode & 0o777 == 0o600
        assert process.command[:3] == [str(llama_server_binary), "-m", config.model_path]
        assert "-ngl 999" in " ".join(process.command)
    finally:
        process.stop()
    deadline = time.monotonic() + 5
    while not exits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exits, "the watchdog did not report llama-server's exit"
    assert out.getvalue().startswith("starting: ")
    assert "llama-key" not in out.getvalue()  # the key travels in a file, not the argv


@pytest.mark.llama
def test_tts_container_serves_speech_on_dependencies_built_at_enter(
    llama_orpheus_server: Any, small_snac_dir: Path
) -> None:
    import asyncio
    import threading

    import httpx
    import uvicorn

    from modal_services.tts_runtime import build_service_deps, service_app
    from orpheus_service.llama.server import free_port
    from tests.support.service_support import service_settings

    settings = service_settings(
        llama_endpoint=llama_orpheus_server.base_url,
        snac_model=str(small_snac_dir),
        snac_device="cpu",
    )
    # As in a Modal container: the enter coroutine and the server share one event loop.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    deps, metrics = asyncio.run_coroutine_threadsafe(build_service_deps(settings), loop).result(60)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            service_app(settings, deps, metrics), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serving = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = 100
            while not server.started and deadline:
                threading.Event().wait(0.05)
                deadline -= 1
            health = client.get("/health")
            assert health.status_code == 200, health.text
            assert health.json()["snac"] == "loaded"
            speech = client.post(
                "/v1/audio/speech", json={"input": "Hello there.", "response_format": "pcm"}
            )
            assert speech.status_code == 200, speech.text
            assert len(speech.content) > 2048 * 2
    finally:
        server.should_exit = True
        serving.result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_bench_live_measures_a_local_service(tmp_path: Path, local_service: str) -> None:
    env = clean_env(tmp_path, ORPHEUS_FASTAPI_URL=local_service, ORPHEUS_API_KEY="live-key")
    result = run_python(
        ["bench/live.py", "--sessions", "1,4", "--rounds", "2", "--json"], env, timeout=120
    )
    report = json.loads(result.stdout)
    assert [level["sessions"] for level in report["levels"]] == [1, 4]
    assert [level["runs"] for level in report["levels"]] == [2, 8]
    assert all(level["errors"] == 0 for level in report["levels"])
    assert report["levels"][0]["ttfa_p50_ms"] is not None
    assert report["levels"][0]["rtf_p50"] is not None
    assert [goal["goal"] for goal in report["goals"]] == ["ttfa_p50_ms <= 200 at 1 session(s)"]
    assert result.returncode == (0 if report["ok"] else 1)
