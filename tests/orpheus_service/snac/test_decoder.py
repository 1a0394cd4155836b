"""SnacStreamDecoder: exact frame-by-frame SNAC decoding, one stream or a batch.

The exactness tests run on the real SNAC 24 kHz architecture with random weights
(the published weights cannot be downloaded here), noise off; tests where only the
structure matters use the small config of the same architecture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snac import SNAC

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.vocabulary.tokens import Frame
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    SNAC_24KHZ_CONFIG,
    assert_close_to,
    full_decode,
    random_frames,
    random_snac,
    stitched,
    stream_chunks,
)

SAMPLES_PER_FRAME = 2048


@pytest.fixture(scope="module")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> SNAC:
    return random_snac(SNAC_24KHZ_CONFIG, tmp_path_factory.mktemp("snac24"), noise=False)


@pytest.fixture(scope="module")
def real_decoder(real_model: SNAC) -> SnacStreamDecoder:
    return SnacStreamDecoder(real_model, noise=False)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SNAC:
    return random_snac(SMALL_SNAC_CONFIG, tmp_path_factory.mktemp("snac_small"), noise=False)


@pytest.fixture(scope="module")
def small_decoder(small_model: SNAC) -> SnacStreamDecoder:
    return SnacStreamDecoder(small_model, noise=False)


# -- exactness on the real architecture --------------------------------------------------


@pytest.mark.parametrize("n_frames", [1, 2, 3, 4, 21])
def test_stream_equals_full_decode_on_24khz_architecture(
    real_model: SNAC, real_decoder: SnacStreamDecoder, n_frames: int
) -> None:
    frames = random_frames(n_frames, seed=n_frames)
    got = stitched(stream_chunks(real_decoder, frames))
    assert_close_to(full_decode(real_model, frames), got)


def test_stream_length_is_frames_times_2048(small_decoder: SnacStreamDecoder) -> None:
    for n in (1, 2, 3, 5, 9):
        assert stitched(stream_chunks(small_decoder, random_frames(n))).shape == (
            n * SAMPLES_PER_FRAME,
        )


def test_returned_chunks_are_never_empty(small_decoder: SnacStreamDecoder) -> None:
    for n in (1, 2, 3, 4, 8):
        for chunk in stream_chunks(small_decoder, random_frames(n)):
            assert chunk is None or (chunk.size > 0 and chunk.dtype == np.float32)


def test_first_audio_comes_within_four_frames(small_decoder: SnacStreamDecoder) -> None:
    chunks = stream_chunks(small_decoder, random_frames(8))
    first = next(i for i, c in enumerate(chunks) if c is not None)
    assert first <= 3  # returned by the push of the 4th frame at the latest


def test_each_frame_is_out_no_later_than_three_frames_after(
    small_decoder: SnacStreamDecoder,
) -> None:
    n = 12
    chunks = stream_chunks(small_decoder, random_frames(n))[:-1]  # pushes only
    emitted = np.cumsum([0 if c is None else c.size for c in chunks])
    for k in range(n - 3):
        assert emitted[k + 3] >= (k + 1) * SAMPLES_PER_FRAME, f"frame {k} late"


def test_every_push_after_warm_up_returns_one_frame_of_audio(
    small_decoder: SnacStreamDecoder,
) -> None:
    chunks = stream_chunks(small_decoder, random_frames(10))[:-1]
    assert all(c is not None and c.size == SAMPLES_PER_FRAME for c in chunks[3:])


def test_push_many_equals_frame_by_frame(small_decoder: SnacStreamDecoder) -> None:
    frames = random_frames(9, seed=3)
    one_by_one = stitched(stream_chunks(small_decoder, frames))
    stream = small_decoder.new_stream()
    parts = [stream.push_many(frames[i : i + 3]) for i in range(0, 9, 3)] + [stream.flush()]
    np.testing.assert_allclose(stitched(parts), one_by_one, atol=1e-6)


def test_built_in_stream_restarts_after_flush(small_model: SNAC) -> None:
    decoder = SnacStreamDecoder(small_model, noise=False)
    frames = random_frames(4, seed=5)
    first = stitched([decoder.push(f) for f in frames] + [decoder.flush()])
    second = stitched([decoder.push(f) for f in frames] + [decoder.flush()])
    assert first.shape == (4 * SAMPLES_PER_FRAME,)
    np.testing.assert_allclose(first, second, atol=1e-6)


# -- batching ------------------------------------------------------------------------------


def test_batched_streams_of_different_lengths_equal_each_stream_alone(
    real_decoder: SnacStreamDecoder,
) -> None:
    lengths = [1, 3, 6, 8]
    streams = [random_frames(n, seed=10 + n) for n in lengths]
    alone = [stitched(stream_chunks(real_decoder, frames)) for frames in streams]

    states = [real_decoder.new_state() for _ in streams]
    outputs: list[list[np.ndarray | None]] = [[] for _ in streams]
    for step in range(max(lengths) + 1):
        active = [i for i, frames in enumerate(streams) if step <= len(frames)]
        # Streams still pushing and streams ending (None) share the call.
        items: list[Frame | None] = [
            streams[i][step] if step < len(streams[i]) else None for i in active
        ]
        for i, out in zip(
            active, real_decoder.step_batch([states[i] for i in active], items), strict=True
        ):
            outputs[i].append(out)
    for i, want in enumerate(alone):
        got = stitched(outputs[i])
        assert got.shape == (lengths[i] * SAMPLES_PER_FRAME,)
        np.testing.assert_allclose(got, want, atol=1e-5 * float(np.abs(want).max()))


def test_step_many_runs_streams_with_several_frames_each(
    small_decoder: SnacStreamDecoder,
) -> None:
    streams = [random_frames(n, seed=n) for n in (2, 5, 5)]
    alone = [stitched(stream_chunks(small_decoder, frames)) for frames in streams]
    states = [small_decoder.new_state() for _ in streams]
    first = small_decoder.step_many(states, [f[:2] for f in streams])
    rest = small_decoder.step_many(states, [f[2:] for f in streams], flush=True)
    for want, a, b in zip(alone, first, rest, strict=True):
        np.testing.assert_allclose(stitched([a, b]), want, atol=1e-6)


def test_a_state_twice_in_one_batch_is_refused(small_decoder: SnacStreamDecoder) -> None:
    state = small_decoder.new_state()
    frame = random_frames(1)[0]
    with pytest.raises(ValueError, match="twice"):
        small_decoder.step_batch([state, state], [frame, frame])


# -- input checks and refusals -----------------------------------------------------------


def test_out_of_range_code_is_refused(small_decoder: SnacStreamDecoder) -> None:
    stream = small_decoder.new_stream()
    with pytest.raises(ValueError, match="4096"):
        stream.push((0, 1, 2, 4096, 4, 5, 6))


def test_push_after_flush_is_refused(small_decoder: SnacStreamDecoder) -> None:
    stream = small_decoder.new_stream()
    stream.push(random_frames(1)[0])
    stream.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        stream.push(random_frames(1)[0])


def test_flush_of_an_empty_stream_returns_none(small_decoder: SnacStreamDecoder) -> None:
    assert small_decoder.new_stream().flush() is None


# -- noise ---------------------------------------------------------------------------------


def test_noise_on_draws_fresh_noise_and_keeps_the_length(tmp_path: Path) -> None:
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=True)
    frames = random_frames(5, seed=2)
    quiet = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    noisy_decoder = SnacStreamDecoder(model, noise=True)
    a = stitched(stream_chunks(noisy_decoder, frames))
    b = stitched(stream_chunks(noisy_decoder, frames))
    assert a.shape == b.shape == quiet.shape == (5 * SAMPLES_PER_FRAME,)
    assert np.isfinite(a).all()
    assert not np.allclose(a, b)
    assert not np.allclose(a, quiet)
