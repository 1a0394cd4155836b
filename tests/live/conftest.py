"""Fixtures of the live tests: a deployed Orpheus service named by ORPHEUS_FASTAPI_URL.

Run them with `pytest -m live tests/live` after `unmute-tts deploy` (or against
`unmute-tts serve`), with the variables it printed exported: ORPHEUS_FASTAPI_URL,
ORPHEUS_API_KEY (and ORPHEUS_MODAL_KEY/ORPHEUS_MODAL_SECRET with proxy auth). Without
ORPHEUS_FASTAPI_URL every live test is skipped and says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from backends.orpheus.settings import OrpheusClientSettings, load_client_settings
from unmute.tts.settings import SettingsError

COLD_START_TIMEOUT_S = 900.0
"""A first request may wait for both containers to start (model load included)."""


def live_skip_reason() -> str | None:
    """Why the live tests cannot run here, or None."""
    try:
        settings = load_client_settings()
    except SettingsError as exc:
        return f"live tests need a valid ORPHEUS_FASTAPI_URL: {exc}"
    if settings.fastapi_url is None:
        return (
            "ORPHEUS_FASTAPI_URL is not set: deploy with `unmute-tts deploy` and export "
            "the variables it prints to run the live tests"
        )
    try:
        settings.check()
    except SettingsError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class LiveService:
    """Where the deployed service is and how to authenticate."""

    settings: OrpheusClientSettings

    @property
    def base_url(self) -> str:
        """http(s)://host[/path] without a trailing slash."""
        health = self.settings.health_url
        return health[: -len("/health")]

    @property
    def ws_base(self) -> str:
        """ws(s)://host[/path]."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, "", ""))

    @property
    def has_key(self) -> bool:
        """An API key is configured on this side."""
        return self.settings.api_key is not None

    def headers(self) -> dict[str, str]:
        """Credentials as configured (API key, Modal proxy auth)."""
        return self.settings.headers()

    def headers_without_key(self) -> dict[str, str]:
        """Only the Modal proxy-auth headers (to reach the app without its key)."""
        return {k: v for k, v in self.headers().items() if k.lower().startswith("modal-")}


@pytest.fixture(scope="session")
def live() -> LiveService:
    """The service under test; skips when none is configured."""
    reason = live_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return LiveService(load_client_settings())


@pytest.fixture(scope="session")
def warm(live: LiveService) -> Iterator[LiveService]:
    """The service after /health answered 200 once (waits out a cold start)."""
    import time

    deadline = time.monotonic() + COLD_START_TIMEOUT_S
    last = "no answer"
    with httpx.Client(timeout=120.0, headers=live.headers_without_key()) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(f"{live.base_url}/health")
                if response.status_code == 200:
                    yield live
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(5)
    pytest.fail(f"{live.base_url}/health never answered 200 ({last})")


@pytest.fixture
async def http(warm: LiveService) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx.AsyncClient with the service's credentials."""
    async with httpx.AsyncClient(
        base_url=warm.base_url, headers=warm.headers(), timeout=120.0
    ) as client:
        yield client
