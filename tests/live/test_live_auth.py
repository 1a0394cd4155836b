"""Live: a deployment with a key refuses requests without it, on HTTP and WebSocket.

Runs when ORPHEUS_FASTAPI_URL and ORPHEUS_API_KEY are set (the deploy prints both).
"""

from __future__ import annotations

import httpx
import msgpack  # pyright: ignore[reportMissingTypeStubs]
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live.conftest import LiveService

pytestmark = pytest.mark.live

BODY = {"input": "This should not be spoken.", "voice": "tara", "response_format": "pcm"}


@pytest.fixture
def keyed(warm: LiveService) -> LiveService:
    if not warm.has_key:
        pytest.skip("ORPHEUS_API_KEY is not set here: the key checks need the deployment's key")
    return warm


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key"], ids=["missing-key", "wrong-key"]
)
async def test_speech_without_the_right_key_is_refused_with_401(
    keyed: LiveService, authorization: str | None
) -> None:
    headers = keyed.headers_without_key()
    if authorization is not None:
        headers["Authorization"] = authorization
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        response = await client.post(f"{keyed.base_url}/v1/audio/speech", json=BODY)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_speech_with_the_key_is_accepted(keyed: LiveService) -> None:
    async with httpx.AsyncClient(headers=keyed.headers(), timeout=120) as client:
        response = await client.post(f"{keyed.base_url}/v1/audio/speech", json=BODY)
    assert response.status_code == 200


async def test_unmute_websocket_without_key_is_refused_before_any_audio(
    keyed: LiveService,
) -> None:
    url = f"{keyed.ws_base}/api/tts_streaming?format=PcmMessagePack&voice=tara"
    refused = False
    try:
        async with connect(url, additional_headers=keyed.headers_without_key()) as ws:
            # A server without the denial extension accepts, then closes with 1008.
            frame = await ws.recv()
            message = msgpack.unpackb(frame, raw=False)  # pyright: ignore[reportUnknownMemberType]
            assert message.get("type") != "Audio"
            await ws.recv()
    except InvalidStatus as exc:
        refused = exc.response.status_code in (401, 403)
    except ConnectionClosed as exc:
        refused = exc.rcvd is not None and exc.rcvd.code == 1008
    assert refused


async def test_health_needs_no_key(keyed: LiveService) -> None:
    async with httpx.AsyncClient(headers=keyed.headers_without_key(), timeout=60) as client:
        response = await client.get(f"{keyed.base_url}/health")
    assert response.status_code == 200
