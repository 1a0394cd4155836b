"""Word times from piper's phoneme alignments, for the words the client sent.

Piper speaks espeak-ng's phonemes of a whole phrase: `' '` separates spoken words, and
the model reports how many audio samples each phoneme id lasts. espeak's words are not
always the client's: a number or abbreviation becomes several ("1969" -> "nineteen
sixty-nine"), two words may be read as one ("out of" -> "aʊɾəv"), punctuation or an
emoji alone may say nothing. So each client word is phonemized alone too, and the two
phoneme sequences are matched word by word (difflib); where they differ, the client
words' phonemes are spread over the spoken ones in proportion to their length. A word
starts at the first phoneme matched to it and stops where the next word starts, less
the pause between them; a word that says nothing lasts no time, where the next begins.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

_UNSPOKEN: Final = frozenset("ˈˌ!'(),-.:;?\"¡¿…—–«»“”")
"""Stress marks and punctuation: phonemes that do not tell words apart."""
BOS: Final = "^"
EOS: Final = "$"
PAD: Final = "_"


@dataclass(frozen=True)
class SpokenWord:
    """One word of espeak's phonemes: `key` (phonemes that identify it) and where it
    lies in the phrase's phonemes (indices over all its sentences, one after another)."""

    key: tuple[str, ...]
    key_indices: tuple[int, ...]
    """The phrase-wide index of each phoneme of `key`."""
    start: int
    """Index of its first phoneme (a stress mark included)."""
    end: int
    """Index after its last phoneme that is not punctuation."""


def spoken_words(sentences: Sequence[Sequence[str]]) -> list[SpokenWord]:
    """The words of a phrase's phonemes (one list per sentence), in order."""
    words: list[SpokenWord] = []
    base = 0  # phrase-wide index of the sentence's first phoneme
    for sentence in sentences:
        begin = 0
        for end in [*(i for i, p in enumerate(sentence) if p == " "), len(sentence)]:
            keyed = [
                (base + i, sentence[i]) for i in range(begin, end) if sentence[i] not in _UNSPOKEN
            ]
            if keyed:
                words.append(
                    SpokenWord(
                        key=tuple(p for _, p in keyed),
                        key_indices=tuple(i for i, _ in keyed),
                        start=base + begin,
                        end=keyed[-1][0] + 1,
                    )
                )
            begin = end + 1
        base += len(sentence)
    return words


def word_keys(sentences: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """The keys of the words of one client word's phonemes (empty: it says nothing)."""
    return [word.key for word in spoken_words(sentences)]


@dataclass(frozen=True)
class WordSpan:
    """Where a client word lies in a phrase's phonemes: [start, stop) phoneme indices."""

    start: int
    stop: int


def match_words(
    client_keys: Sequence[Sequence[tuple[str, ...]]], spoken: Sequence[SpokenWord], total: int
) -> list[WordSpan]:
    """The span of each client word (given the keys of its phonemes alone) in the
    phrase's `spoken` words; `total` is the number of phonemes of the phrase."""
    owners = [i for i, keys in enumerate(client_keys) for _ in keys]
    flat = [key for keys in client_keys for key in keys]
    first: list[int | None] = [None] * len(client_keys)
    matcher = difflib.SequenceMatcher(None, flat, [word.key for word in spoken], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "insert":
            continue
        if tag == "equal":
            positions = [spoken[j1 + k].start for k in range(i2 - i1)]
        elif j1 == j2:  # said alone, not in the phrase: where the next spoken word starts
            at = spoken[j1].start if j1 < len(spoken) else total
            positions = [at] * (i2 - i1)
        else:
            positions = _spread(flat[i1:i2], spoken[j1:j2])
        for k, position in zip(range(i1, i2), positions, strict=True):
            owner = owners[k]
            if first[owner] is None:
                first[owner] = position
    starts = _fill_silent(first, total)
    return [
        WordSpan(start, _stop(start, nxt, spoken))
        for start, nxt in zip(starts, [*starts[1:], None], strict=True)
    ]


def _spread(keys: Sequence[tuple[str, ...]], spoken: Sequence[SpokenWord]) -> list[int]:
    """Start index of each client key over spoken words that differ from them: the
    client phonemes are laid over the spoken ones in proportion."""
    spoken_indices = [index for word in spoken for index in word.key_indices]
    client_total = sum(len(key) for key in keys)
    positions: list[int] = []
    offset = 0
    for key in keys:
        at = offset * len(spoken_indices) // max(client_total, 1)
        if offset == 0 or not spoken_indices:
            positions.append(spoken[0].start)
        else:
            positions.append(spoken_indices[min(at, len(spoken_indices) - 1)])
        offset += len(key)
    return positions


def _fill_silent(first: list[int | None], total: int) -> list[int]:
    """Starts of every word: one that says nothing starts where the next one does."""
    starts: list[int] = [0] * len(first)
    following = total
    for i in range(len(first) - 1, -1, -1):
        position = first[i]
        following = min(following, position) if position is not None else following
        starts[i] = following if position is None else position
    for i in range(1, len(starts)):  # never earlier than the word before
        starts[i] = max(starts[i], starts[i - 1])
    return starts


def _stop(start: int, following: int | None, spoken: Sequence[SpokenWord]) -> int:
    """Where a word starting at `start` stops: at the end of the last spoken word that
    begins before the next client word, or where that one starts inside it."""
    limit = following
    stop = start
    for word in spoken:
        if word.end <= start:
            continue
        if limit is not None and word.start >= limit:
            break
        stop = word.end if limit is None else min(word.end, limit)
    return max(stop, start)


def phoneme_samples(
    phonemes: Sequence[str],
    id_map: Mapping[str, Sequence[int]],
    id_samples: npt.NDArray[np.int64],
) -> list[int] | None:
    """Samples each phoneme lasts (the first entry: the sentence's start marker), from
    the samples of each phoneme id, or None when they do not fit. A phoneme missing from
    the voice's map was skipped by piper and lasts 0 samples."""
    pad = len(id_map.get(PAD, ()))
    lengths = [len(id_map.get(BOS, ())) + pad]
    lengths += [len(id_map[p]) + pad if p in id_map else 0 for p in phonemes]
    if sum(lengths) + len(id_map.get(EOS, ())) != len(id_samples):
        return None
    bounds = np.cumsum([0, *lengths])
    return [int(id_samples[a:b].sum()) for a, b in itertools.pairwise(bounds)]
