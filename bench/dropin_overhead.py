"""What the drop-in client costs inside unmute: first audio vs upstream's own client.

One local Orpheus service (llama-server with the tests' tiny orpheus-like GGUF; the
SNAC 24 kHz architecture with random weights; greedy sampling, so every reply is the
same audio and the service's time varies only with the machine) serves both clients.
Upstream unmute's own handler runs in its Python 3.12 environment
(`scripts/unmute_host_env.py`, `host` layout: upstream's locked dependencies plus this
project) from an upstream checkout and speaks each reply through upstream's client
(`KYUTAI_TTS_URL` at the service) or through the drop-in (`unmute.tts.pluggable`,
`UNMUTE_TTS_BACKEND` = `--backend`, default `orpheus`; `orpheus,espeak` times a
chain), alternating turn by turn in one process (`bench/dropin_driver.py`).

Columns (medians, ms): `handler` is the handler's own measure (the LLM's first word,
before the client's `start_up` returned, to the first audio in its `_tts_loop`); the
difference and the ratio are of it. `start_wait` is the part of it before the
handler could send its first word (its client's `start_up` not yet returned);
`start_up` is how long the client's `start_up` took.
`ttfa` runs from the handler's first word sent
to the first audio its client yields: `to_wire` (until the word leaves on the
WebSocket) + `service` (until the first audio frame is read off it) + `from_wire`
(until the client yields it). `own` = to_wire + from_wire: what the client itself
adds, free of the service's variance.

    .venv/bin/python -m bench.dropin_overhead [--runs 10] [--backend orpheus] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from orpheus_service.llama.server import find_llama_server_binary
from tests.support.llama import ORPHEUS_USER_DEFINED, LlamaServers, model_cache_dir
from tests.support.orpheus_fixtures import start_orpheus_service
from tests.support.snac_models import SNAC_24KHZ_CONFIG, save_random_snac

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).with_name("dropin_driver.py")
REPLY = "Hello there, how are you doing today? I am fine."
GOAL_MS = 5.0


def host_script() -> Any:
    """`scripts/unmute_host_env.py` as a module."""
    spec = importlib.util.spec_from_file_location(
        "unmute_host_env", ROOT / "scripts" / "unmute_host_env.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(args: argparse.Namespace) -> dict[str, Any]:
    script = host_script()
    upstream: Path = script.default_upstream_dir()
    python: Path = script.ensure_environment("host", upstream=upstream)
    servers = LlamaServers(find_llama_server_binary(), model_cache_dir())
    snac_dir = save_random_snac(SNAC_24KHZ_CONFIG, Path(tempfile.mkdtemp(prefix="snac-24k-")))
    llama_url = servers.get(ORPHEUS_USER_DEFINED).base_url
    service = start_orpheus_service(llama_url, snac_dir, temperature=0.0)  # the same tokens
    try:
        config = {"reply": REPLY, "runs": args.runs, "warmup": args.warmup, "timeout_s": 30}
        cleared = ("UNMUTE_", "KYUTAI_", "ORPHEUS_", "PYTHON", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
        env |= {
            "PYTHONPATH": str(upstream),
            "KYUTAI_LLM_MODEL": "fake-llm",
            "KYUTAI_TTS_URL": service.url.replace("http://", "ws://"),
            "ORPHEUS_FASTAPI_URL": service.url,
            "UNMUTE_TTS_BACKEND": args.backend,
        }
        done = subprocess.run(
            [str(python), "-P", str(DRIVER), json.dumps(config)],
            env=env,
            cwd=tempfile.mkdtemp(prefix="dropin-bench-"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the driver failed:\n{done.stderr[-12000:]}")
        times: dict[str, list[dict[str, float]]] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        service.stop()
        servers.stop_all()
    parts = ("handler_ttfa", "start_up", "ttfa", "to_wire", "service", "from_wire")
    for turns in times.values():
        for t in turns:
            t["start_wait"] = t["handler_ttfa"] - t["ttfa"]
    rows = {
        client: {
            part: round(statistics.median(t[part] for t in turns), 2)
            for part in (*parts, "start_wait")
        }
        for client, turns in times.items()
    }
    paired = [
        d["ttfa"] - u["ttfa"] for u, d in zip(times["upstream"], times["drop-in"], strict=True)
    ]
    own = [t["to_wire"] + t["from_wire"] for t in times["drop-in"]]
    own_upstream = [t["to_wire"] + t["from_wire"] for t in times["upstream"]]
    return {
        "backend": args.backend,
        "runs": args.runs,
        "clients": rows,
        "ratio": round(rows["drop-in"]["handler_ttfa"] / rows["upstream"]["handler_ttfa"], 3),
        "difference_of_medians_ms": round(
            rows["drop-in"]["handler_ttfa"] - rows["upstream"]["handler_ttfa"], 1
        ),
        "median_paired_difference_ms": round(statistics.median(paired), 1),
        "client_own_ms": {
            "upstream": round(statistics.median(own_upstream), 2),
            "drop-in": round(statistics.median(own), 2),
        },
        "goal_ms": GOAL_MS,
        "runs_ms": {c: [round(t["handler_ttfa"], 1) for t in turns] for c, turns in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="turns per client (alternating)")
    parser.add_argument("--warmup", type=int, default=2, help="turns per client not counted")
    parser.add_argument("--backend", default="orpheus", help="the drop-in's UNMUTE_TTS_BACKEND")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"drop-in backend {result['backend']}, {result['runs']} alternating turns per client")
    print(
        f"{'client':<10} {'handler ms':>10} {'start_up':>9} {'start_wait':>10} {'ttfa ms':>9} "
        f"{'to_wire':>9} "
        f"{'service':>9} {'from_wire':>9}  own ms"
    )
    for client, row in result["clients"].items():
        own = result["client_own_ms"][client]
        print(
            f"{client:<10} {row['handler_ttfa']:>10} {row['start_up']:>9} {row['start_wait']:>10} "
            f"{row['ttfa']:>9} "
            f"{row['to_wire']:>9} "
            f"{row['service']:>9} {row['from_wire']:>9}  {own}"
        )
    print(
        f"drop-in / upstream {result['ratio']}; drop-in - upstream: "
        f"{result['difference_of_medians_ms']} ms (medians), "
        f"{result['median_paired_difference_ms']} ms (median of paired turns); "
        f"goal <= {GOAL_MS} ms"
    )


if __name__ == "__main__":
    main()
