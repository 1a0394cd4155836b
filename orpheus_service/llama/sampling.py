"""What one synthesis may change of llama-server's sampling (no HTTP client here).

`SamplingOverrides` lives apart from the client so that the settings, which parse
them, import no HTTP library: the settings load in containers (the llama image)
that install none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingOverrides:
    """One synthesis's sampling settings that replace the service's; `None` keeps its own.

    Named as OrpheusSettings' fields (and the `orpheus` backend's query keys).
    """

    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
