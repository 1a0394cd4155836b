"""`TokenSource`: what the engine needs of a language model (llama.cpp's client is one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.sampling import SamplingOverrides


class TokenSource(Protocol):
    """Starts one generation: a prompt in, generated token ids out (streamed).

    Sampling settings are bound by whoever builds the source; a synthesis
    started with `sampling` overrides passes them as `sampling=` on each of its
    requests (and only then: a source for syntheses without overrides may take
    the prompt alone). The returned iterator should be an async generator (or
    have `aclose()`): the engine closes it when the segment ends or the
    synthesis is cancelled.
    """

    def __call__(
        self, prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
    ) -> AsyncIterator[int]: ...
