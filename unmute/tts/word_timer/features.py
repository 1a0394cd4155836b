"""Spectral features of 24 kHz speech for alignment: MFCCs every 10 ms, streamed.

numpy only (an rfft per frame, a mel filter bank, a DCT), so the core stays light:
about a millisecond per second of audio.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from unmute.tts.protocol import SAMPLE_RATE, FloatArray

Features = npt.NDArray[np.float32]
"""One row per frame."""

HOP: Final = SAMPLE_RATE // 100
"""Samples between frames: 10 ms."""
WINDOW: Final = 512
"""Samples per frame (21 ms)."""
FRAME_S: Final = HOP / SAMPLE_RATE
N_MELS: Final = 26
N_CEPSTRA: Final = 13


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_filters(low_hz: float = 80.0, high_hz: float = 7600.0) -> npt.NDArray[np.float32]:
    bins = np.fft.rfftfreq(WINDOW, 1.0 / SAMPLE_RATE)
    edges_mel = np.linspace(_mel(np.array(low_hz)), _mel(np.array(high_hz)), N_MELS + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    filters = np.zeros((N_MELS, len(bins)))
    for m in range(N_MELS):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        rising = (bins - left) / (centre - left)
        falling = (right - bins) / (right - centre)
        filters[m] = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters.T.astype(np.float32)


def _dct_matrix() -> npt.NDArray[np.float32]:
    n = np.arange(N_MELS)
    k = np.arange(N_CEPSTRA)[:, None]
    return (np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS)) * np.sqrt(2.0 / N_MELS)).T.astype(
        np.float32
    )


_WINDOW_FN: Final = np.hamming(WINDOW).astype(np.float32)
_MEL_FILTERS: Final = _mel_filters()
_DCT: Final = _dct_matrix()


def mfcc(samples: FloatArray) -> Features:
    """MFCCs (c0 = log energy first) of every whole frame of `samples`, one per HOP."""
    if len(samples) < WINDOW:
        return np.zeros((0, N_CEPSTRA), dtype=np.float32)
    count = 1 + (len(samples) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP][:count]
    spectrum = np.abs(np.fft.rfft(frames * _WINDOW_FN, axis=1)).astype(np.float32) ** 2
    mel = np.log(spectrum @ _MEL_FILTERS + 1e-8)
    return (mel @ _DCT).astype(np.float32)


class StreamingMfcc:
    """`mfcc` of a stream given in any chunk sizes: the same frames as one call on the
    whole stream (frame i covers samples [i * HOP, i * HOP + WINDOW))."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: FloatArray) -> Features:
        """The features of every frame completed by `samples`."""
        joined = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        features = mfcc(joined)
        self._pending = joined[len(features) * HOP :]
        return features
