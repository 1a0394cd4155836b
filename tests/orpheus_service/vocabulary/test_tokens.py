"""The audio token layout: Orpheus's `<custom_token_10>` onwards, seven codebooks."""

from __future__ import annotations

from orpheus_service.vocabulary.tokens import AUDIO_TOKEN_BASE, AUDIO_TOKEN_END


def test_audio_token_range_covers_seven_codebooks() -> None:
    assert AUDIO_TOKEN_BASE == 128266
    assert AUDIO_TOKEN_END == 128266 + 7 * 4096
