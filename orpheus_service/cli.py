"""`unmute-tts serve`: run the Orpheus service with uvicorn.

The llama.cpp endpoint, SNAC model, key and limits come from the ORPHEUS_*
settings (environment or .env); the flags override them for one run.
"""

from __future__ import annotations

import argparse
from typing import Any

from unmute.tts.extras import require_extra


def _serve(args: argparse.Namespace) -> int:
    require_extra("fastapi", "service", feature="unmute-tts serve")
    uvicorn = require_extra("uvicorn", "service", feature="unmute-tts serve")
    require_extra("torch", "service", feature="unmute-tts serve")

    from orpheus_service.api.app import create_app
    from orpheus_service.api.wiring import deps_factory
    from orpheus_service.serving import uvicorn_options
    from orpheus_service.settings import OrpheusSettings

    overrides: dict[str, Any] = {}
    for flag, field in (
        ("llama_endpoint", "llama_endpoint"),
        ("snac_model", "snac_model"),
        ("snac_device", "snac_device"),
        ("max_sessions", "max_sessions"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[field] = value
    settings = OrpheusSettings.load(**overrides)
    app = create_app(
        settings,
        deps_factory(batching=not args.no_batching, torch_threads=args.torch_threads),
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        **uvicorn_options(settings),
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the `serve` subcommand to `unmute-tts`."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the Orpheus TTS service (OpenAI speech API + unmute's WebSocket)",
        description=__doc__,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--llama-endpoint", help="llama-server base URL (default: ORPHEUS_LLAMA_ENDPOINT)"
    )
    serve.add_argument("--snac-model", help="SNAC folder or hub id (default: ORPHEUS_SNAC_MODEL)")
    serve.add_argument("--snac-device", help="torch device for SNAC (default: cuda if available)")
    serve.add_argument(
        "--max-sessions", type=int, help="concurrent sessions (ORPHEUS_MAX_SESSIONS)"
    )
    serve.add_argument(
        "--no-batching",
        action="store_true",
        help="decode each session's SNAC work alone instead of batching across sessions",
    )
    serve.add_argument(
        "--torch-threads",
        type=int,
        help="torch threads for SNAC on the CPU (default: torch's; 1 next to a local llama-server)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(func=_serve)
