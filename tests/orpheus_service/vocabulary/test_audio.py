"""The audio a SNAC frame decodes to: what the streaming decoder of the SNAC 24 kHz
architecture gives per frame is SAMPLES_PER_FRAME float32 mono samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.vocabulary.audio import SAMPLES_PER_FRAME
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    random_frames,
    random_snac,
    stitched,
    stream_chunks,
)


def test_a_frame_decodes_to_samples_per_frame_float32_mono_samples(tmp_path: Path) -> None:
    decoder = SnacStreamDecoder(random_snac(SMALL_SNAC_CONFIG, tmp_path), noise=False)
    assert decoder.samples_per_frame == SAMPLES_PER_FRAME
    audio = stitched(stream_chunks(decoder, random_frames(4)))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == 4 * SAMPLES_PER_FRAME
