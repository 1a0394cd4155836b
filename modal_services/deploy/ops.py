"""The only part of the deploy that talks to Modal: its CLI and its Python client."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from modal_services.config import (
    DOWNLOAD_FUNCTION,
    LLAMA_FUNCTION,
    TTS_CLASS,
    TTS_WEB_METHOD,
    ModalDeployConfig,
    container_env,
)
from modal_services.deploy.plan import DeployError, deploy_command, modal_cli, shown
from modal_services.images import REPO_ROOT


class ModalOps(Protocol):
    """What the deploy needs from Modal; tests substitute a recorder."""

    def whoami(self) -> str: ...
    def secret_exists(self, name: str) -> bool: ...
    def create_secret(self, name: str, values: Mapping[str, str]) -> None: ...
    def update_secret(self, name: str, values: Mapping[str, str]) -> None: ...
    def deploy(self, module: str) -> None: ...
    def prefetch_model(self, config: ModalDeployConfig) -> str: ...
    def llama_url(self, config: ModalDeployConfig) -> str: ...
    def tts_url(self, config: ModalDeployConfig) -> str: ...


class RealModalOps:
    """ModalOps through the `modal` CLI and Python client.

    `modal deploy` runs in a child process that gets this process's configuration
    as ORPHEUS_MODAL_* variables, so it deploys exactly what the plan showed.
    `modal_api` is the `modal` module (tests pass a stand-in checked against it).
    """

    def __init__(
        self,
        config: ModalDeployConfig,
        environment: str | None = None,
        *,
        modal_api: Any = None,
    ) -> None:
        self.config = config
        self.environment = environment
        self._modal = modal_api

    @property
    def modal(self) -> Any:
        """The modal client module, imported when first needed."""
        if self._modal is None:
            import modal

            self._modal = modal
        return self._modal

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
        """Modal's own credential check (`modal token info`): who the token belongs to."""
        output = self._run(modal_cli("token", "info"), capture=True)
        return " ".join(output.split())

    def secret_exists(self, name: str) -> bool:
        from modal.exception import NotFoundError

        try:
            self.modal.Secret.from_name(name, environment_name=self.environment).hydrate()
        except NotFoundError:
            return False
        return True

    def create_secret(self, name: str, values: Mapping[str, str]) -> None:
        self.modal.Secret.objects.create(name, dict(values), environment_name=self.environment)

    def update_secret(self, name: str, values: Mapping[str, str]) -> None:
        secret = self.modal.Secret.from_name(name, environment_name=self.environment)
        secret.update(dict(values))

    def deploy(self, module: str) -> None:
        self._run(deploy_command(module, self.environment), capture=False)

    def prefetch_model(self, config: ModalDeployConfig) -> str:
        download = self.modal.Function.from_name(
            config.llama_app_name, DOWNLOAD_FUNCTION, environment_name=self.environment
        )
        return str(download.remote())

    def llama_url(self, config: ModalDeployConfig) -> str:
        serve = self.modal.Function.from_name(
            config.llama_app_name, LLAMA_FUNCTION, environment_name=self.environment
        )
        url: str | None = serve.get_web_url()
        if not url:
            raise DeployError(f"{config.llama_app_name}/{LLAMA_FUNCTION} has no web URL")
        return url.rstrip("/")

    def tts_url(self, config: ModalDeployConfig) -> str:
        cls = self.modal.Cls.from_name(
            config.tts_app_name, TTS_CLASS, environment_name=self.environment
        )
        url: str | None = getattr(cls(), TTS_WEB_METHOD).get_web_url()
        if not url:
            raise DeployError(f"{config.tts_app_name}/{TTS_CLASS}.{TTS_WEB_METHOD} has no web URL")
        return url.rstrip("/")
