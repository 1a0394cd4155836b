"""The Orpheus prompt: control ids around `voice: text`, in its three forms."""

from __future__ import annotations

import pytest

from orpheus_service.vocabulary.prompt import build_prompt, build_prompt_ids, build_prompt_text
from orpheus_service.vocabulary.tokens import BEGIN_OF_TEXT


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
