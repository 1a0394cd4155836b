"""What a successful deploy prints: the environment block for unmute and test commands."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from modal_services.config import ModalDeployConfig
from modal_services.deploy.steps import DeployResult


def env_block(result: DeployResult, config: ModalDeployConfig) -> str:
    """The variables that point unmute at the deployment."""
    key_line = (
        f"ORPHEUS_API_KEY={result.api_key}"
        if result.api_key
        else "# ORPHEUS_API_KEY unchanged: use the key printed by the first deploy "
        "(`unmute-tts deploy --rotate-key` makes a new one)"
    )
    lines = [
        f"ORPHEUS_FASTAPI_URL={result.tts_url}",
        key_line,
        "UNMUTE_TTS_BACKEND=orpheus",
        "# a cold start (both containers) takes tens of seconds: give start-up time",
        "ORPHEUS_STARTUP_BUDGET_S=120",
    ]
    if config.proxy_auth:
        lines += [
            "ORPHEUS_MODAL_KEY=<your proxy auth token id>",
            "ORPHEUS_MODAL_SECRET=<your proxy auth token secret>",
        ]
    return "\n".join(lines)


def test_commands(result: DeployResult, config: ModalDeployConfig) -> str:
    """Ready-to-paste commands that exercise the deployment."""
    url = result.tts_url
    auth = ' -H "Authorization: Bearer $ORPHEUS_API_KEY"'
    if config.proxy_auth:
        auth += ' -H "Modal-Key: $ORPHEUS_MODAL_KEY" -H "Modal-Secret: $ORPHEUS_MODAL_SECRET"'
    body = json.dumps(
        {"input": "Hello from Orpheus on Modal.", "voice": "tara", "response_format": "wav"}
    )
    ws_url = url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    ws_script = (
        "import asyncio, os, websockets\n"
        "async def main():\n"
        f"    url = {ws_url + '/v1/audio/speech/stream/ws?voice=tara'!r}\n"
        "    headers = {'Authorization': 'Bearer ' + os.environ['ORPHEUS_API_KEY']}\n"
        "    pcm = bytearray()\n"
        "    async with websockets.connect(url, additional_headers=headers) as ws:\n"
        "        await ws.send('Hello over the WebSocket.')\n"
        "        async for frame in ws:\n"
        "            pcm += frame if isinstance(frame, bytes) else b''\n"
        "    open('ws.pcm', 'wb').write(pcm)\n"
        "    print(len(pcm) / 48000, 's of 16-bit 24 kHz PCM in ws.pcm')\n"
        "asyncio.run(main())\n"
    )
    return "\n".join(
        [
            "# health (no key needed)",
            f"curl -sS {url}/health",
            "# OpenAI-compatible speech, as a WAV file",
            f"curl -sS -X POST {url}/v1/audio/speech{auth} -H 'Content-Type: application/json' "
            f"-d '{body}' -o hello.wav",
            "# unmute's WebSocket, through the Orchestrator and the orpheus backend",
            'unmute-tts say "Hello from unmute on Modal." --backend orpheus -o orpheus.wav',
            "# the text-in, PCM-out WebSocket",
            f"python -c {shlex.quote(ws_script)}",
            "# live tests and latency benchmark (with the variables above exported)",
            "pytest -m live tests/live",
            "python bench/live.py",
        ]
    )


def write_env_file(path: Path, block: str) -> None:
    """Write the environment block readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(block + "\n")
