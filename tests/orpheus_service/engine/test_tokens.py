"""OrpheusTokenParser: token ids -> 7-code frames."""

from __future__ import annotations

import random

import pytest

from orpheus_service.engine.tokens import OrpheusTokenParser
from orpheus_service.vocabulary.tokens import END_OF_SPEECH, START_OF_SPEECH, Frame


def tok(slot: int, code: int) -> int:
    """The token id that carries `code` in `slot`."""
    return 128266 + slot * 4096 + code


def frame_tokens(codes: Frame | list[int]) -> list[int]:
    return [tok(slot, code) for slot, code in enumerate(codes)]


A: Frame = (1, 2, 3, 4, 5, 6, 7)
B: Frame = (100, 200, 300, 400, 500, 600, 700)
Z: Frame = (0, 0, 0, 0, 0, 0, 0)


def test_code_zero_is_legal() -> None:
    parser = OrpheusTokenParser()
    assert parser.feed(frame_tokens([0] * 7)) == [(0, 0, 0, 0, 0, 0, 0)]


def test_code_4095_is_legal() -> None:
    parser = OrpheusTokenParser()
    assert parser.feed(frame_tokens([4095] * 7)) == [(4095,) * 7]


def test_code_4096_drops_the_frame() -> None:
    parser = OrpheusTokenParser()
    tokens = frame_tokens(A)
    tokens[3] = tok(3, 4096)
    assert parser.feed(tokens) == []
    assert parser.stats.dropped_frames == 1


def test_negative_code_drops_the_frame() -> None:
    parser = OrpheusTokenParser()
    tokens = frame_tokens(A)
    tokens[2] = tok(1, 5)  # a slot-1 token where slot 2 is due: code -4091
    assert parser.feed(tokens) == []
    assert parser.stats.dropped_frames == 1


def test_dropped_frame_resync_keeps_later_slots() -> None:
    parser = OrpheusTokenParser()
    bad = frame_tokens(A)
    bad[0] = tok(0, 4096)
    assert parser.feed(bad + frame_tokens(B) + frame_tokens(A)) == [B, A]
    assert parser.stats.dropped_frames == 1
    assert parser.stats.frames == 2


def test_text_tokens_mid_stream_are_skipped_without_shifting_slots() -> None:
    parser = OrpheusTokenParser()
    tokens = frame_tokens(A)
    tokens[3:3] = [1000, 128009, 15]
    assert parser.feed(tokens) == [A]
    assert parser.stats.non_audio_tokens == 3


def test_start_of_speech_mid_stream_restarts_the_frame() -> None:
    parser = OrpheusTokenParser()
    frames = parser.feed([*frame_tokens(A)[:4], START_OF_SPEECH, *frame_tokens(B)])
    assert frames == [B]
    assert parser.stats.partial_frames == 1


def test_end_of_speech_ends_the_stream() -> None:
    parser = OrpheusTokenParser()
    frames = parser.feed([*frame_tokens(A), END_OF_SPEECH, *frame_tokens(B)])
    assert frames == [A]
    assert parser.ended
    assert parser.stats.ignored_tokens == 7


def test_stream_of_only_non_audio_tokens_is_detectable() -> None:
    parser = OrpheusTokenParser()
    assert parser.feed([1000, 2000, 128009, 128262]) == []
    stats = parser.finish()
    assert stats.audio_tokens == 0
    assert stats.frames == 0
    assert stats.non_audio_tokens == 4


def test_stream_cut_mid_frame_discards_and_counts_the_partial_frame() -> None:
    parser = OrpheusTokenParser()
    assert parser.feed(frame_tokens(A) + frame_tokens(B)[:5]) == [A]
    assert parser.stats.partial_frames == 0
    stats = parser.finish()
    assert stats.partial_frames == 1
    assert stats.frames == 1


def test_tokens_split_across_chunks_give_the_same_frames() -> None:
    tokens = [*frame_tokens(A), 1000, *frame_tokens(B), *frame_tokens(Z)]
    whole = OrpheusTokenParser().feed(tokens)
    rng = random.Random(7)
    for _ in range(20):
        parser = OrpheusTokenParser()
        frames: list[Frame] = []
        start = 0
        while start < len(tokens):
            size = rng.randint(1, 5)
            frames += parser.feed(tokens[start : start + size])
            start += size
        assert frames == whole == [A, B, Z]


def test_ids_below_the_audio_range_are_not_audio() -> None:
    parser = OrpheusTokenParser()
    assert parser.feed([128256, 128263, 128265]) == []
    assert parser.stats.audio_tokens == 0


def test_feed_after_finish_raises() -> None:
    parser = OrpheusTokenParser()
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed_one(tok(0, 1))
