"""Which voices go with which model; OpenAI's voice names; unknown voices name `voice`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orpheus_service.api.voices import OPENAI_VOICE_ALIASES, served_language
from orpheus_service.vocabulary.voices import ENGLISH_VOICES, MULTILINGUAL_VOICES
from tests.support.service_support import FakeEngine, ServerThread, start_fake_service


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine)
    yield srv
    srv.stop()


def test_the_voice_list_groups_voices_by_model_served_first(server: ServerThread) -> None:
    listing = httpx.get(f"{server.http}/v1/audio/voices").json()
    served, *others = listing["models"]
    assert served["served"] is True
    assert served["language"] == "English"
    assert served["voices"] == list(ENGLISH_VOICES)
    french = next(model for model in others if model["language"] == "French")
    assert french["served"] is False
    assert french["voices"] == list(MULTILINGUAL_VOICES["fr"])
    assert listing["aliases"] == OPENAI_VOICE_ALIASES


def test_models_list_the_voices_of_the_served_model(server: ServerThread) -> None:
    models = httpx.get(f"{server.http}/v1/models").json()["data"]
    assert models
    for model in models:
        assert model["voices"] == list(ENGLISH_VOICES)


@pytest.mark.parametrize(
    "model_name,language",
    [
        ("Orpheus-3b-FT-Q8_0.gguf", "en"),
        ("Orpheus-3b-French-FT-Q8_0.gguf", "fr"),
        ("orpheus-3b-german-ft.Q4_K_M.gguf", "de"),
    ],
)
def test_the_served_language_is_read_from_the_gguf_name(model_name: str, language: str) -> None:
    assert served_language(model_name) == language


@pytest.mark.parametrize("openai_name", ["alloy", "nova", "Onyx"])
def test_openai_voice_names_speak_with_their_orpheus_voice(
    server: ServerThread, engine: FakeEngine, openai_name: str
) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        json={"input": "hi", "voice": openai_name, "response_format": "pcm"},
    )
    assert r.status_code == 200
    assert engine.syntheses[-1].voice == OPENAI_VOICE_ALIASES[openai_name.lower()]


def test_an_unknown_voice_error_names_the_voice_param(server: ServerThread) -> None:
    r = httpx.post(f"{server.http}/v1/audio/speech", json={"input": "hi", "voice": "nobody"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "unknown_voice"
    assert error["param"] == "voice"


def test_every_alias_maps_to_an_english_voice_and_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for openai_name, orpheus_name in OPENAI_VOICE_ALIASES.items():
        assert orpheus_name in ENGLISH_VOICES
        assert f"| `{openai_name}` | {orpheus_name} |" in readme
