"""The contract every registered backend keeps (`unmute.tts.conformance`), run against
each one available offline.

A backend joins by registering its entry point. One that needs a local server to be
usable names a pytest fixture in `BACKEND_ENVIRONMENTS` that starts it and sets the
environment.
"""

from __future__ import annotations

import pytest

from unmute.tts import registry
from unmute.tts.conformance import CHECKS, Check, check_id

BACKEND_ENVIRONMENTS = {
    "orpheus": "orpheus_service_env",
    "kyutai": "kyutai_server_env",
    "openai": "openai_server_env",
}


def _backend_names() -> list[str]:
    return sorted(registry.list_backends())


@pytest.fixture(params=_backend_names())
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setenv("UNMUTE_FIXTURE_PACE", "fast")
    if name in BACKEND_ENVIRONMENTS:
        request.getfixturevalue(BACKEND_ENVIRONMENTS[name])
    registry.refresh()
    reason = registry.get_backend(name).unavailable_reason()
    if reason is not None:
        pytest.skip(f"{name} is not usable offline here: {reason}")
    return name


def test_the_kyutai_backend_is_in_the_suite() -> None:
    assert "kyutai" in _backend_names()


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_backend_keeps_the_contract(backend: str, check: Check) -> None:
    await check(lambda: registry.create_tts(backend))
