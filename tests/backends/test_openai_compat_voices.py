"""The `openai` backend's voices: read from the server's list in every shape servers
answer with, or OpenAI's own when the server lists none."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backends.openai_compat.settings import OpenAITTSSettings
from backends.openai_compat.voices import OPENAI_VOICES, list_voices, parse_voices
from tests.support.openai_server import OpenAISpeechServer


@pytest.mark.parametrize(
    "answer",
    [
        {"voices": ["af_heart", "af_sky"]},
        {"voices": [{"id": "af_heart", "name": "Heart"}, {"voice_id": "af_sky"}]},
        {"status": "ok", "voices": ["af_heart", "af_sky"]},
        ["af_heart", "af_sky"],
    ],
    ids=["kokoro", "objects", "orpheus-fastapi", "bare-list"],
)
def test_voice_lists_are_read_in_every_shape(answer: object) -> None:
    assert parse_voices(answer) == ["af_heart", "af_sky"]


def test_voices_come_from_the_server(
    openai_server_factory: Callable[..., OpenAISpeechServer],
) -> None:
    server = openai_server_factory(voices_answer={"status": "ok", "voices": ["tara", "leo"]})
    assert list_voices(OpenAITTSSettings(base_url=server.url)) == ["tara", "leo"]


def test_openais_voices_when_the_server_lists_none(
    openai_server_factory: Callable[..., OpenAISpeechServer],
) -> None:
    server = openai_server_factory()  # answers 404
    assert list_voices(OpenAITTSSettings(base_url=server.url)) == list(OPENAI_VOICES)
    assert list_voices(OpenAITTSSettings()) == list(OPENAI_VOICES)
