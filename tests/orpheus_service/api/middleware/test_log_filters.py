"""The API key never reaches the service's log, in any form, at any level.

`unmute-tts serve --log-level debug` is sent the key every way a client can send it
(Bearer header, unmute's `kyutai-api-key` header, the browser's
`orpheus-tts.key.<base64url>` subprotocol, a query value) and wrong keys the same
ways; then every line of its log is searched for the keys, their base64 forms, and
any base64url token that decodes to one of them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from orpheus_service.api.middleware.browser_auth import SUBPROTOCOL, key_subprotocol
from orpheus_service.llama.server import free_port
from tests.support.environment import subprocess_env

ROOT = Path(__file__).resolve().parents[4]
KEY = "sk-log/secret+key=42"
WRONG_KEY = "sk-old/rotated+key=41"
UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"
PCM_SOCKET = "/v1/audio/speech/stream/ws"


def encodings(key: str) -> set[str]:
    """The forms of `key` a log could show: as is, URL-encoded, base64 and base64url (with
    and without padding)."""
    raw = key.encode()
    forms = {key, urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return forms


def decoded_tokens(text: str) -> Iterator[str]:
    """Every run of base64 or base64url characters in `text`, decoded where it decodes."""
    for token in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                yield decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace")


@pytest.fixture(params=["websockets-sansio-paced", "websockets-sansio", "wsproto", "websockets"])
def served_at_debug(
    request: pytest.FixtureRequest, small_snac_dir: Path, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """`unmute-tts serve --log-level debug` with a key (llama-server down: not needed)."""
    port = free_port()
    env = subprocess_env(
        ORPHEUS_SNAC_MODEL=str(small_snac_dir),
        ORPHEUS_API_KEY=KEY,
        ORPHEUS_WS_IMPLEMENTATION=request.param,
    )
    command = [sys.executable, "-m", "unmute.tts.cli", "serve", "--port", str(port)]
    command += ["--llama-endpoint", f"http://127.0.0.1:{free_port()}", "--snac-device", "cpu"]
    command += ["--log-level", "debug"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/health", timeout=1)  # 503 while llama-server is down
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"unmute-tts serve did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def open_and_close(url: str, **options: object) -> None:
    """Open a WebSocket (refused or not) and close it."""
    with contextlib.suppress(websockets.InvalidStatus, websockets.ConnectionClosed):
        async with websockets.connect(url, open_timeout=5, close_timeout=1, **options):  # pyright: ignore[reportArgumentType]
            pass


async def use_every_form(http: str, key: str) -> None:
    ws = http.replace("http://", "ws://")
    async with httpx.AsyncClient() as client:
        await client.get(http + "/v1/models", headers={"Authorization": f"Bearer {key}"})
        await client.get(http + "/v1/models", headers={"kyutai-api-key": key})
        for name in ("api_key", "key", "token"):
            await client.get(http + "/v1/models", params={name: key})
    headers = [{"kyutai-api-key": key}, {"Authorization": f"Bearer {key}"}]
    for path in (UNMUTE, PCM_SOCKET):
        for header in headers:
            await open_and_close(ws + path, additional_headers=header)
        await open_and_close(ws + path, subprotocols=[SUBPROTOCOL, key_subprotocol(key)])  # pyright: ignore[reportArgumentType]
        separator = "&" if "?" in path else "?"
        await open_and_close(ws + path + f"{separator}api_key={key}")


def test_no_form_of_a_key_right_or_wrong_reaches_the_debug_log(
    served_at_debug: tuple[str, Path],
) -> None:
    url, log = served_at_debug
    for key in (KEY, WRONG_KEY):
        asyncio.run(use_every_form(url, key))
    text = log.read_text(errors="replace")
    assert '"WebSocket /api/tts_streaming' in text  # the log does record the connections
    for key in (KEY, WRONG_KEY):
        for form in encodings(key):
            assert form not in text, f"{form!r} is in the log"
        leaked = [decoded for decoded in decoded_tokens(text) if key in decoded]
        assert not leaked, f"a token in the log decodes to {key!r}"
