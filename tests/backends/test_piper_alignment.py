"""Word spans from piper's phonemes: espeak's words found in a phrase's phonemes, the
client's words matched to them (even where espeak reads them otherwise), and the samples
each phoneme lasts from piper's per-id alignments."""

from __future__ import annotations

import numpy as np

from backends.piper.alignment import (
    BOS,
    EOS,
    PAD,
    WordSpan,
    match_words,
    phoneme_samples,
    spoken_words,
    word_keys,
)

HELLO = ("h", "ɛ", "l", "o")
WORLD = ("w", "ɜ", "l", "d")
BYE = ("b", "a", "ɪ")
PHRASE = [["ˈ", *HELLO, " ", *WORLD, "."], list(BYE)]
"""Two sentences: "ˈhɛlo wɜld." and "baɪ"."""
TOTAL = sum(len(sentence) for sentence in PHRASE)


def test_spoken_words_leave_stress_and_punctuation_out_of_their_keys() -> None:
    words = spoken_words(PHRASE)
    assert [w.key for w in words] == [HELLO, WORLD, BYE]
    assert [(w.start, w.end) for w in words] == [(0, 5), (6, 10), (11, 14)]
    assert words[2].key_indices == (11, 12, 13)  # indices run on across sentences


def test_a_word_of_punctuation_alone_has_no_key() -> None:
    assert word_keys([["!", " ", "…"]]) == []


def test_words_read_as_given_span_their_spoken_words() -> None:
    spans = match_words([[HELLO], [WORLD], [BYE]], spoken_words(PHRASE), TOTAL)
    assert spans == [WordSpan(0, 5), WordSpan(6, 10), WordSpan(11, 14)]


def test_a_word_that_says_nothing_starts_and_stops_where_the_next_starts() -> None:
    spans = match_words([[HELLO], [], [WORLD], [BYE]], spoken_words(PHRASE), TOTAL)
    assert spans[1] == WordSpan(6, 6)


def test_a_client_word_read_as_two_spoken_words_spans_both() -> None:
    # "hello-world" phonemized alone gives both keys: one client word over two spoken.
    spans = match_words([[HELLO, WORLD], [BYE]], spoken_words(PHRASE), TOTAL)
    assert spans == [WordSpan(0, 10), WordSpan(11, 14)]


def test_phoneme_samples_add_up_the_samples_of_each_phonemes_ids() -> None:
    id_map = {BOS: [1], EOS: [2], PAD: [0], "a": [3], "b": [4, 5]}
    # ids: ^ _ | a _ | b b _ | $   (each phoneme followed by the pad)
    id_samples = np.array([10, 1, 20, 2, 30, 31, 3, 9], dtype=np.int64)
    assert phoneme_samples(["a", "b"], id_map, id_samples) == [11, 22, 64]


def test_a_phoneme_the_voice_lacks_lasts_no_sample() -> None:
    id_map = {BOS: [1], EOS: [2], PAD: [0], "a": [3]}
    id_samples = np.array([10, 1, 20, 2, 9], dtype=np.int64)
    assert phoneme_samples(["a", "ʔ"], id_map, id_samples) == [11, 22, 0]


def test_alignments_that_do_not_fit_the_phonemes_give_none() -> None:
    id_map = {BOS: [1], EOS: [2], PAD: [0], "a": [3]}
    assert phoneme_samples(["a"], id_map, np.array([1, 2, 3], dtype=np.int64)) is None
