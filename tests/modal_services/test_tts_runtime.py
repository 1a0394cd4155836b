"""The TTS container as plain Python: the service built at enter on real dependencies
(llama-server with a tiny GGUF, a small SNAC) serves speech."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


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
