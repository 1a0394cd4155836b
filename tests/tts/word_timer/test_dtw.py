"""StreamingDtw: query frames pushed as they come are aligned to a reference; the best
path's end and the rows at which it crosses reference frames follow the query's pace."""

from __future__ import annotations

import numpy as np

from unmute.tts.word_timer.dtw import StreamingDtw


def reference(frames: int = 12) -> np.ndarray:
    """Frames that differ from each other (one-hot rows, scaled)."""
    return (np.eye(frames, dtype=np.float32) * 5.0).astype(np.float32)


def test_the_reference_itself_is_followed_frame_by_frame() -> None:
    ref = reference()
    dtw = StreamingDtw(ref)
    for row in ref:
        dtw.push(row[None, :])
    assert dtw.end() == len(ref) - 1
    assert dtw.crossings([3, 7, 11]) == [3, 7, 11]


def test_a_query_at_half_the_pace_crosses_each_frame_twice_as_late() -> None:
    ref = reference()
    dtw = StreamingDtw(ref)
    dtw.push(np.repeat(ref, 2, axis=0))
    assert dtw.end() == len(ref) - 1
    assert dtw.crossings([3, 7]) == [6, 14]


def test_frames_not_reached_yet_have_no_crossing() -> None:
    ref = reference()
    dtw = StreamingDtw(ref)
    dtw.push(ref[:5])
    assert dtw.end() == 4
    assert dtw.crossings([2, 8]) == [2, None]


def test_pushing_in_chunks_aligns_as_pushing_at_once() -> None:
    ref = reference()
    query = np.repeat(ref, [1, 2, 1, 3, 1, 1, 2, 1, 1, 2, 1, 1], axis=0)
    whole, chunked = StreamingDtw(ref), StreamingDtw(ref)
    whole.push(query)
    for start in range(0, len(query), 4):
        chunked.push(query[start : start + 4])
    boundaries = list(range(len(ref)))
    assert chunked.crossings(boundaries) == whole.crossings(boundaries)


def test_nothing_pushed_has_no_end() -> None:
    dtw = StreamingDtw(reference())
    dtw.push(np.zeros((0, 12), dtype=np.float32))
    assert dtw.end() == -1
    assert dtw.crossings([0, 1]) == [None, None]
