"""Deploy's Modal calls, checked against Modal's real client objects.

`RealModalOps` is given a stand-in for the `modal` module that looks up every
attribute on the real module, its classes and their instances (a name Modal lacks
raises AttributeError) and binds every call to the real signature (an argument
Modal does not take raises TypeError), then records it. So a full deploy (rotation
included) runs its real Secret, Function and Cls calls offline, and the order of
the secret writes, deploys, URL lookups, download and health waits is asserted.
"""

from __future__ import annotations

import inspect
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import modal
import modal.cls
import pytest
from modal.exception import NotFoundError

from modal_services import config as cfg
from modal_services.config import ModalDeployConfig
from modal_services.deploy.ops import RealModalOps
from modal_services.deploy.plan import DeployOptions
from modal_services.deploy.steps import deploy
from modal_services.llama_keys import LLAMA_NEXT_API_KEY, LLAMA_SEND_NEXT_KEY
from tests.modal_services.fake_ops import LLAMA_URL, TTS_URL, quiet

INSTANCE_ATTRIBUTES: dict[type, type] = {modal.cls.Obj: modal.Function}
"""What an attribute of an instance is when the class only makes it on access
(a method of a deployed class, on `Cls()`, is a Function)."""


_UNSET = object()


class _Instance:
    """An instance of a real Modal class, for the stand-in (none is created)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls


class ModalStandIn:
    """A stand-in for a Modal object (the module, a class, an instance of a class):
    attribute lookups and call signatures are the real client's.

    `answers` maps a method name to what a call returns: a value, a callable (called
    for each answer) or an exception (raised). Without an answer, `X.from_name(...)`
    returns an instance of X and `Cls(...)()` an `Obj`; other calls return None."""

    def __init__(
        self,
        real: Any,
        path: str,
        log: list[tuple[str, dict[str, Any]]],
        answers: dict[str, Any],
        owner: type | None = None,
    ) -> None:
        self._real = real
        self._path = path
        self._log = log
        self._answers = answers
        self._owner = owner  # the class this attribute was looked up on

    def _child(self, real: Any, path: str, owner: type | None = None) -> ModalStandIn:
        return ModalStandIn(real, path, self._log, self._answers, owner)

    def __getattr__(self, name: str) -> ModalStandIn:
        real = self._real
        path = f"{self._path}.{name}"
        if isinstance(real, _Instance):
            made = INSTANCE_ATTRIBUTES.get(real.cls)
            if made is not None and not hasattr(real.cls, name):
                return self._child(_Instance(made), path)
            return self._child(getattr(real.cls, name), path)
        return self._child(getattr(real, name), path, real if isinstance(real, type) else None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        real = self._real
        function = real.cls.__call__ if isinstance(real, _Instance) else real
        signature = inspect.signature(function)
        params = list(signature.parameters)
        if params and params[0] == "self":
            bound = signature.bind(None, *args, **kwargs)
        else:
            bound = signature.bind(*args, **kwargs)
        self._log.append((self._path, {k: v for k, v in bound.arguments.items() if k != "self"}))
        answer = self._answers.get(self._path.rsplit(".", 1)[-1], _UNSET)
        if isinstance(answer, BaseException):
            raise answer
        if answer is not _UNSET:
            return answer() if callable(answer) else answer
        if isinstance(real, _Instance) and real.cls is modal.Cls:
            return self._child(_Instance(modal.cls.Obj), f"{self._path}()")
        if self._path.endswith(".from_name") and self._owner is not None:
            return self._child(_Instance(self._owner), f"{self._path}()")
        return None


def stand_in(**answers: Any) -> ModalStandIn:
    """The `modal` module's stand-in, answering with `answers`."""
    return ModalStandIn(modal, "modal", [], answers)


def test_the_stand_in_refuses_what_modal_refuses() -> None:
    api = stand_in()
    with pytest.raises(TypeError):
        api.Secret.from_name("s", environment="dev")  # Modal's keyword is environment_name
    with pytest.raises(AttributeError):
        _ = api.Secret.objects.put


def test_a_first_deploy_makes_the_modal_calls_in_order(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = stand_in(hydrate=NotFoundError("no such secret"), remote="downloaded: /models/m.gguf")
    calls = run(monkeypatch, api, DeployOptions(environment="dev"))
    secret = {"name": "orpheus-tts", "environment_name": "dev"}

    def function(name: str) -> dict[str, Any]:
        return {"app_name": "orpheus-llama-cpp", "name": name, "environment_name": "dev"}

    no_arguments: dict[str, Any] = {}
    assert calls == [
        ("cli", "token info"),
        ("modal.Secret.from_name", secret),
        ("modal.Secret.from_name().hydrate", {}),
        ("modal.Secret.objects.create", {**secret, "env_dict": "<keys>"}),
        ("cli", f"deploy -m {cfg.LLAMA_MODULE} --env dev"),
        ("modal.Function.from_name", function(cfg.DOWNLOAD_FUNCTION)),
        ("modal.Function.from_name().remote", no_arguments),
        ("modal.Function.from_name", function(cfg.LLAMA_FUNCTION)),
        ("modal.Function.from_name().get_web_url", {}),
        ("health", LLAMA_URL),
        ("modal.Secret.from_name", secret),
        ("modal.Secret.from_name().update", {"env_dict": {cfg.SECRET_LLAMA_ENDPOINT: LLAMA_URL}}),
        ("cli", f"deploy -m {cfg.TTS_MODULE} --env dev"),
        (
            "modal.Cls.from_name",
            {"app_name": "orpheus-fastapi-tts", "name": cfg.TTS_CLASS, "environment_name": "dev"},
        ),
        ("modal.Cls.from_name()", no_arguments),
        ("modal.Cls.from_name()().web.get_web_url", {}),
        ("health", TTS_URL),
    ]


def test_a_rotation_updates_the_secret_around_the_deploys_in_order(
    no_modal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = stand_in(hydrate=None, remote="already present")
    calls = run(monkeypatch, api, DeployOptions(rotate_key=True))
    writes = [
        (path, sorted(args["env_dict"]) if "env_dict" in args else args)
        for path, args in calls
        if path in ("cli", "health") or path.endswith((".update", ".create"))
    ]
    update = "modal.Secret.from_name().update"
    assert [(p, a) for p, a in writes if p != "cli" or a != "token info"] == [
        (update, [LLAMA_NEXT_API_KEY, LLAMA_SEND_NEXT_KEY]),
        ("cli", f"deploy -m {cfg.LLAMA_MODULE}"),
        ("health", LLAMA_URL),
        (update, sorted([cfg.SECRET_LLAMA_ENDPOINT, cfg.SECRET_API_KEY, LLAMA_SEND_NEXT_KEY])),
        ("cli", f"deploy -m {cfg.TTS_MODULE}"),
        ("health", TTS_URL),
        (update, sorted([cfg.SECRET_LLAMA_API_KEY, LLAMA_NEXT_API_KEY, LLAMA_SEND_NEXT_KEY])),
        ("cli", f"deploy -m {cfg.LLAMA_MODULE}"),
        ("health", LLAMA_URL),
    ]


def run(monkeypatch: pytest.MonkeyPatch, api: ModalStandIn, options: DeployOptions) -> list[Any]:
    """Run a whole deploy through RealModalOps on the stand-in; every call, in order
    (the `modal` CLI runs and the health waits included)."""
    calls: list[tuple[str, Any]] = []
    log = api._log  # pyright: ignore[reportPrivateUsage]
    urls = iter([LLAMA_URL, TTS_URL])

    def flush() -> None:
        for path, arguments in log:
            if "env_dict" in arguments and path.endswith(".create"):
                arguments = {**arguments, "env_dict": "<keys>"}  # generated keys
            calls.append((path, arguments))
        log.clear()

    def cli(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        flush()
        calls.append(("cli", " ".join(command[3:])))
        return subprocess.CompletedProcess(command, 0, "Workspace: test", "")

    def health(url: str, headers: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        flush()
        calls.append(("health", url))
        return {"status": "ok"}

    api._answers["get_web_url"] = lambda: next(urls)  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(subprocess, "run", cli)
    ops = RealModalOps(ModalDeployConfig(), options.environment, modal_api=api)
    deploy(ModalDeployConfig(), options, ops, log=quiet, wait_health=health)
    flush()
    return calls
