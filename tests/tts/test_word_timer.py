"""create_word_timer: the best estimator installed (espeak-ng's aligner, else the
proportional rule), and a lookahead beyond the contract's refused."""

from __future__ import annotations

import pytest

from unmute.tts.word_timer import create_word_timer
from unmute.tts.word_timer.aligner import EspeakDtwWordTimer
from unmute.tts.word_timer.proportional import ProportionalWordTimer


def test_without_espeak_the_proportional_rule_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    import unmute.tts.word_timer as word_timer

    monkeypatch.setattr(word_timer, "missing_modules", lambda *names: ["espeakng_loader"])
    assert isinstance(create_word_timer(), ProportionalWordTimer)


def test_with_espeak_the_aligner_is_chosen() -> None:
    assert isinstance(create_word_timer(), EspeakDtwWordTimer)


def test_an_unknown_language_falls_back_to_the_proportional_rule() -> None:
    assert isinstance(create_word_timer(language="xx-nonexistent"), ProportionalWordTimer)


def test_a_lookahead_beyond_half_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="lookahead_s"):
        create_word_timer(lookahead_s=0.8)
