"""Sampling: one model whose bounds the service, the client backend and a query share."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backends.orpheus.settings import OrpheusClientSettings
from orpheus_service.settings import OrpheusSettings
from orpheus_service.vocabulary.sampling import DEFAULT_SAMPLING, Sampling, SamplingOverrides

OUT_OF_BOUNDS = {"temperature": 2.5, "top_p": 0.0, "repetition_penalty": 0.9}


def test_overrides_replace_only_the_fields_they_set() -> None:
    sampling = Sampling(max_tokens=99, temperature=0.7)
    changed = sampling.with_overrides(SamplingOverrides(top_p=0.5))
    assert changed == Sampling(max_tokens=99, temperature=0.7, top_p=0.5)


def test_no_overrides_keep_the_same_settings() -> None:
    assert DEFAULT_SAMPLING.with_overrides(None) is DEFAULT_SAMPLING
    assert DEFAULT_SAMPLING.with_overrides(SamplingOverrides()) is DEFAULT_SAMPLING


def test_a_query_without_sampling_keys_has_no_overrides() -> None:
    assert SamplingOverrides.from_query({"voice": "tara"}) is None


def test_a_query_sets_the_overrides_it_names() -> None:
    overrides = SamplingOverrides.from_query({"temperature": " 0.3 ", "voice": "tara"})
    assert overrides == SamplingOverrides(temperature=0.3)


@pytest.mark.parametrize(("name", "value"), sorted(OUT_OF_BOUNDS.items()))
def test_every_definition_refuses_the_same_out_of_bounds_value(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        SamplingOverrides.from_query({name: str(value)})
    with pytest.raises(ValidationError):
        Sampling.model_validate({name: value})
    with pytest.raises(ValidationError):
        OrpheusSettings.model_validate({name: value})
    with pytest.raises(ValidationError):
        OrpheusClientSettings.model_validate({name: value})


def test_a_value_that_is_not_a_number_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match="top_p='most'"):
        SamplingOverrides.from_query({"top_p": "most"})


def test_the_service_samples_with_the_vocabulary_defaults_unless_set() -> None:
    assert OrpheusSettings.model_validate({}).sampling == DEFAULT_SAMPLING
    assert OrpheusSettings.model_validate({"top_p": 0.5}).sampling.top_p == 0.5
