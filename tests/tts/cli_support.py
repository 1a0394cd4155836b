"""Run `unmute-tts` in a subprocess with a clean environment (no UNMUTE_/ORPHEUS_ settings)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.environment import subprocess_env


def run_cli(
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    prelude: str = "",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`unmute-tts ARGS` run from `cwd` (so no project .env is read); `prelude` is Python
    run first in the same process (e.g. to hide an installed extra)."""
    code = f"{prelude}\nimport sys\nfrom unmute.tts.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        env=dict(env) if env is not None else subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
