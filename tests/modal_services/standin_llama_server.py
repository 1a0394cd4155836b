"""A stand-in for llama-server in the containers' tests (standard library only).

Started with llama-server's command line: it records its argv and the keys of its
`--api-key-file` (one per line, `#` lines skipped, as llama-server reads them) into
the JSON file named by $STANDIN_RECORD, answers GET /health with 200, and answers
any other request with 200 when it carries `Authorization: Bearer <an accepted key>`
(or when there are no keys), else 401. It always binds 127.0.0.1, whatever --host says.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def option(argv: list[str], flag: str) -> str | None:
    """The value after `flag` in `argv`, or None."""
    return argv[argv.index(flag) + 1] if flag in argv else None


def main() -> None:
    argv = sys.argv[1:]
    key_file = option(argv, "--api-key-file")
    keys: list[str] = []
    if key_file is not None:
        lines = Path(key_file).read_text(encoding="utf-8").splitlines()
        keys = [line for line in lines if line and not line.startswith("#")]
    record = os.environ.get("STANDIN_RECORD")
    if record:
        Path(record).write_text(json.dumps({"argv": sys.argv, "keys": keys}), encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _any(self) -> None:
            if self.path == "/health":
                self._answer(200, {"status": "ok"})
                return
            sent = self.headers.get("Authorization", "")
            if keys and sent.removeprefix("Bearer ") not in keys:
                self._answer(401, {"error": {"code": 401, "message": "Invalid API Key"}})
                return
            self._answer(200, {"content": ""})

        do_GET = _any
        do_POST = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    port = int(option(argv, "--port") or "8080")
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
