"""CPU pinning shared by the benchmarks that model llama-server on a machine of its own."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pin_process(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of `pid` (new threads inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)
