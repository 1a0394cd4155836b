"""How Orpheus samples audio tokens: one model, its defaults and its bounds.

`Sampling` is one request's settings; `SamplingOverrides` the fields one synthesis
may change (the `orpheus` backend's query keys). The service's settings, the client
backend's settings and the llama client take their bounds and defaults from here;
only the llama client renames fields, at llama-server's wire (`repeat_penalty`,
`n_predict`). Standard library and pydantic only: the light client backend imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orpheus_service.vocabulary.tokens import SLOTS_PER_FRAME

Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
"""Sampling temperature."""
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
"""Nucleus sampling mass."""
RepetitionPenalty = Annotated[float, Field(ge=1.0, le=2.0)]
"""Repetition penalty; >= 1.1 keeps Orpheus stable."""
MaxTokens = Annotated[int, Field(ge=SLOTS_PER_FRAME)]
"""Token budget of one request (at least one frame)."""


class SamplingOverrides(BaseModel):
    """One synthesis's sampling fields that replace the service's; `None` keeps its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: Temperature | None = None
    top_p: TopP | None = None
    repetition_penalty: RepetitionPenalty | None = None

    @classmethod
    def from_query(cls, values: Mapping[str, str]) -> Self | None:
        """The overrides named in `values` (e.g. a URL query); None when there are none.

        Raises ValueError naming the key for a value that is not a number or out of bounds.
        """
        found: dict[str, float] = {}
        for name in cls.model_fields:
            raw = values.get(name)
            if raw is None:
                continue
            try:
                found[name] = getattr(cls.model_validate({name: raw.strip()}), name)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"]
                raise ValueError(f"invalid {name}={raw!r}: {reason}") from None
        return cls(**found) if found else None


class Sampling(BaseModel):
    """The sampling settings of one llama request; `None` keeps llama-server's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: MaxTokens = 1200
    """Token budget per request; ~82 tokens make 1 s of audio."""
    temperature: Temperature = 0.6
    top_p: TopP = 0.9
    repetition_penalty: RepetitionPenalty = 1.1
    top_k: int | None = None
    """llama-server's default is 40; 0 (off, as vLLM) costs a full-vocabulary sort per token."""
    min_p: float | None = None
    """llama-server's default is 0.05."""
    repeat_last_n: int | None = None
    seed: int | None = None
    """Random seed of the sampler (fixed: the same tokens for the same prompt)."""

    def with_overrides(self, overrides: SamplingOverrides | None) -> Sampling:
        """These settings with the fields `overrides` sets replaced."""
        if overrides is None:
            return self
        changes = overrides.model_dump(exclude_none=True)
        return self.model_copy(update=changes) if changes else self


DEFAULT_SAMPLING = Sampling()
"""The service's sampling unless its settings say otherwise."""
