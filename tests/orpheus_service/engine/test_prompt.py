"""The Orpheus prompt, voices, and the voice/sample-rate checks of OrpheusSettings."""

from __future__ import annotations

import os

import pytest

from orpheus_service.settings import OrpheusSettings
from orpheus_service.vocabulary.prompt import build_prompt, build_prompt_ids, build_prompt_text
from orpheus_service.vocabulary.tokens import AUDIO_TOKEN_BASE, AUDIO_TOKEN_END, BEGIN_OF_TEXT
from orpheus_service.vocabulary.voices import (
    ALL_VOICES,
    ENGLISH_VOICES,
    UnknownVoiceError,
    check_voice,
)


def test_prompt_is_control_ids_around_voice_and_text() -> None:
    assert build_prompt("Hello there.", "tara") == [
        128259,
        128000,
        "tara: Hello there.",
        128009,
        128260,
        128261,
        128257,
    ]


def test_prompt_starts_with_an_id_so_the_server_adds_no_second_bos() -> None:
    # llama-server adds BOS only when the first element is a string.
    prompt = build_prompt("Hi.")
    assert isinstance(prompt[0], int)
    assert prompt.count(BEGIN_OF_TEXT) == 1


def test_prompt_uses_the_requested_voice() -> None:
    assert build_prompt("Hi.", "leo")[2] == "leo: Hi."


def test_unknown_voice_error_lists_the_voices() -> None:
    with pytest.raises(UnknownVoiceError) as info:
        build_prompt("Hi.", "nobody")
    message = str(info.value)
    assert "nobody" in message
    for voice in ENGLISH_VOICES:
        assert voice in message
    assert "pierre" in message


def test_voice_names_are_case_insensitive() -> None:
    assert check_voice(" Tara ") == "tara"


def test_multilingual_voices_are_accepted() -> None:
    assert build_prompt("Bonjour.", "pierre")[2] == "pierre: Bonjour."
    assert "jana" in ALL_VOICES
    assert "유나" in ALL_VOICES


def test_emotion_tags_pass_through() -> None:
    assert build_prompt("That is funny <laugh> really.")[2] == "tara: That is funny <laugh> really."


def test_special_token_spellings_are_removed_from_text() -> None:
    text = "Hi<|eot_id|> there <custom_token_4><|begin_of_text|>friend"
    assert build_prompt(text)[2] == "tara: Hi there friend"


def test_whitespace_is_collapsed() -> None:
    assert build_prompt("  Hello\n\n  world\t! ")[2] == "tara: Hello world !"


def test_empty_text_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        build_prompt(" <|eot_id|> ")


def test_text_form_spells_the_same_prompt() -> None:
    assert build_prompt_text("Hi.", "zoe") == (
        "<custom_token_3><|begin_of_text|>zoe: Hi.<|eot_id|>"
        "<custom_token_4><custom_token_5><custom_token_1>"
    )


def test_id_form_wraps_the_tokenized_text() -> None:
    ids = build_prompt_ids("Hi.", "tara", lambda s: [ord(c) for c in s])
    assert ids == [128259, 128000, *[ord(c) for c in "tara: Hi."], 128009, 128260, 128261, 128257]


def test_id_form_rejects_a_tokenizer_that_adds_bos() -> None:
    with pytest.raises(ValueError, match="BOS"):
        build_prompt_ids("Hi.", "tara", lambda s: [128000, 1, 2])


def test_audio_token_range_covers_seven_codebooks() -> None:
    assert AUDIO_TOKEN_BASE == 128266
    assert AUDIO_TOKEN_END == 128266 + 7 * 4096


# -- OrpheusSettings checks that involve voices and the decoder -------------------


@pytest.fixture(autouse=True)
def no_orpheus_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ORPHEUS_"):
            monkeypatch.delenv(name)


def test_settings_defaults() -> None:
    settings = OrpheusSettings.load(_env_file=None)
    assert settings.llama_endpoint == "http://127.0.0.1:8080"
    assert settings.max_tokens == 1200
    assert settings.default_voice == "tara"
    assert settings.sample_rate == 24000


def test_settings_read_orpheus_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_LLAMA_ENDPOINT", "http://llama:9000/")
    monkeypatch.setenv("ORPHEUS_DEFAULT_VOICE", "Leah")
    settings = OrpheusSettings.load(_env_file=None)
    assert settings.llama_endpoint == "http://llama:9000"
    assert settings.default_voice == "leah"


def test_settings_reject_other_sample_rates_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_SAMPLE_RATE", "16000")
    with pytest.raises(ValueError, match="ORPHEUS_SAMPLE_RATE"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_unknown_default_voice_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_DEFAULT_VOICE", "bob")
    with pytest.raises(ValueError, match="ORPHEUS_DEFAULT_VOICE"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_a_bad_endpoint_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_LLAMA_ENDPOINT", "llama:8080/completion")
    with pytest.raises(ValueError, match="ORPHEUS_LLAMA_ENDPOINT"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_a_segment_bound_past_the_token_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_MAX_TOKENS", "300")
    with pytest.raises(ValueError, match="ORPHEUS_SEGMENT_MAX_CHARS"):
        OrpheusSettings.load(_env_file=None)


def test_settings_api_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_API_KEY", "s3cret")
    settings = OrpheusSettings.load(_env_file=None)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
