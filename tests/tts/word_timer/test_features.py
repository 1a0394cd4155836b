"""MFCC features of speech: one frame per HOP once a whole window is in, and a stream
cut in any chunk sizes gives the frames of the whole signal."""

from __future__ import annotations

import itertools

import numpy as np

from unmute.tts.word_timer.features import HOP, N_CEPSTRA, WINDOW, StreamingMfcc, mfcc


def noise(samples: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(samples).astype(np.float32) * 0.1


def test_one_frame_per_hop_once_a_window_is_in() -> None:
    assert mfcc(noise(WINDOW - 1)).shape == (0, N_CEPSTRA)
    assert mfcc(noise(WINDOW)).shape == (1, N_CEPSTRA)
    assert mfcc(noise(WINDOW + 3 * HOP)).shape == (4, N_CEPSTRA)


def test_a_stream_in_any_chunks_gives_the_frames_of_the_whole_signal() -> None:
    signal = noise(WINDOW + 20 * HOP + 7)
    stream = StreamingMfcc()
    cuts = [0, 1, 100, 333, 2000, 5000, len(signal)]
    pieces = [stream.push(signal[a:b]) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_allclose(np.concatenate(pieces), mfcc(signal), rtol=1e-5, atol=1e-4)


def test_the_first_coefficient_follows_the_loudness() -> None:
    quiet, loud = mfcc(noise(WINDOW) * np.float32(0.01)), mfcc(noise(WINDOW))
    assert loud[0, 0] > quiet[0, 0]
