"""A ModalOps that records the deploy's calls and keeps the Secret's values, for the
deploy's tests (the real one is checked against Modal's client in
deploy/test_ops.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modal_services.config import ModalDeployConfig
from modal_services.deploy.plan import DeployError

LLAMA_URL = "https://ws--orpheus-llama-cpp-serve.modal.run"
TTS_URL = "https://ws--orpheus-fastapi-tts-orpheustts-web.modal.run"


def quiet(_: str) -> None:
    """A log that prints nothing."""


class FakeOps:
    """ModalOps that records calls (health waits included); `fail_at` names a call that raises."""

    def __init__(
        self,
        *,
        secret_exists: bool = False,
        secret: Mapping[str, str] | None = None,
        fail_at: str | None = None,
    ) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.secret: dict[str, str] = dict(secret or {})
        self._exists = secret_exists
        self.fail_at = fail_at
        self.llama = LLAMA_URL
        self.tts = TTS_URL

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if name == self.fail_at:
            raise DeployError(f"{name} broke")

    def names(self) -> list[str]:
        """The calls' names, in order."""
        return [name for name, _ in self.calls]

    def whoami(self) -> str:
        self._call("whoami")
        return "Workspace: test"

    def secret_exists(self, name: str) -> bool:
        self._call("secret_exists", name)
        return self._exists

    def create_secret(self, name: str, values: Mapping[str, str]) -> None:
        self._call("create_secret", dict(values))
        self.secret = dict(values)
        self._exists = True

    def update_secret(self, name: str, values: Mapping[str, str]) -> None:
        self._call("update_secret", dict(values))
        self.secret.update(values)

    def deploy(self, module: str) -> None:
        self._call("deploy", module)

    def prefetch_model(self, config: ModalDeployConfig) -> str:
        self._call("prefetch_model")
        return "model present"

    def llama_url(self, config: ModalDeployConfig) -> str:
        self._call("llama_url")
        return self.llama

    def tts_url(self, config: ModalDeployConfig) -> str:
        self._call("tts_url")
        return self.tts

    def health(self, url: str, headers: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        """A wait for /health that answers at once (recorded as a call)."""
        self._call("health", url)
        return {"status": "ok"}
