"""SnacStreamDecoder: exact frame-by-frame SNAC decoding, and load_snac.

The exactness tests run on the real SNAC 24 kHz architecture with random weights
(the published weights cannot be downloaded here), noise off; tests where only the
structure matters use the small config of the same architecture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from snac import SNAC
from snac.layers import NoiseBlock, Snake1d

from orpheus_service.snac import packed_linear as snac_packed_linear
from orpheus_service.snac.decoder import SnacStreamDecoder, UnsupportedSnacModel
from orpheus_service.snac.loading import (
    SnacLoadError,
    disable_noise,
    fold_weight_norm,
    load_snac,
)
from orpheus_service.vocabulary.tokens import Frame
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    SNAC_24KHZ_CONFIG,
    build_random_snac,
    random_snac,
    save_random_snac,
)

SAMPLES_PER_FRAME = 2048
TOLERANCE = 1e-4  # of the reference's peak


@pytest.fixture(scope="module", autouse=True)
def _two_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    yield
    torch.set_num_threads(threads)


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


def random_frames(n: int, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4096, size=(n, 7))
    return [
        (int(a), int(b), int(c), int(d), int(e), int(f), int(g)) for a, b, c, d, e, f, g in codes
    ]


def level_codes(frames: list[Frame]) -> list[torch.Tensor]:
    """Orpheus slot order -> SNAC's three code levels."""
    l0 = [f[0] for f in frames]
    l1 = [c for f in frames for c in (f[1], f[4])]
    l2 = [c for f in frames for c in (f[2], f[3], f[5], f[6])]
    return [torch.tensor([level], dtype=torch.long) for level in (l0, l1, l2)]


def full_decode(model: Any, frames: list[Frame]) -> np.ndarray:
    with torch.inference_mode():
        return model.decode(level_codes(frames))[0, 0].numpy()


def stream_chunks(decoder: SnacStreamDecoder, frames: list[Frame]) -> list[np.ndarray | None]:
    """What each push returns, then what flush returns (last)."""
    stream = decoder.new_stream()
    return [stream.push(f) for f in frames] + [stream.flush()]


def stitched(chunks: list[np.ndarray | None]) -> np.ndarray:
    parts = [c for c in chunks if c is not None]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def assert_close_to(reference: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == reference.shape
    peak = float(np.abs(reference).max())
    assert peak > 0
    err = float(np.abs(got - reference).max())
    assert err <= TOLERANCE * peak, f"max error {err:.3g} = {err / peak:.3g} of the peak"


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


def test_model_with_attention_is_refused() -> None:
    torch.manual_seed(0)
    model = SNAC(**{**SMALL_SNAC_CONFIG, "attn_window_size": 4})
    with pytest.raises(UnsupportedSnacModel, match="attention"):
        SnacStreamDecoder(model)


def test_dense_convolutions_stream_exactly(tmp_path: Path) -> None:
    model = random_snac({**SMALL_SNAC_CONFIG, "depthwise": False}, tmp_path, noise=False)
    frames = random_frames(6, seed=7)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    assert_close_to(full_decode(model, frames), got)


def test_snakes_with_tiny_alphas_stream_exactly(tmp_path: Path) -> None:
    # Alphas too small to fold into the next layer take the exact snake formula.
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=False)
    with torch.no_grad():
        for module in model.decoder.modules():
            if isinstance(module, Snake1d):
                module.alpha[0, 0, 0] = 1e-5
    frames = random_frames(5, seed=8)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    assert_close_to(full_decode(model, frames), got)


def test_plain_linear_path_without_onednn_streams_exactly(
    small_model: SNAC, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The path CUDA (and CPUs without oneDNN) take: F.linear everywhere.
    monkeypatch.setattr(snac_packed_linear, "onednn_pack", lambda *args: None)
    frames = random_frames(5, seed=9)
    got = stitched(stream_chunks(SnacStreamDecoder(small_model, noise=False), frames))
    assert_close_to(full_decode(small_model, frames), got)


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


def test_noise_off_matches_the_full_decode_of_a_model_without_noise_blocks(
    tmp_path: Path,
) -> None:
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=True)
    frames = random_frames(5, seed=4)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    disable_noise(model)
    assert_close_to(full_decode(model, frames), got)


# -- load_snac ---------------------------------------------------------------------------


def test_load_snac_round_trips_a_folder(tmp_path: Path) -> None:
    save_random_snac(SMALL_SNAC_CONFIG, tmp_path, seed=3)
    loaded = load_snac(str(tmp_path), device="cpu", noise=False)
    original = build_random_snac(SMALL_SNAC_CONFIG, seed=3)
    disable_noise(original)
    frames = random_frames(3)
    np.testing.assert_allclose(
        full_decode(loaded, frames), full_decode(original, frames), rtol=0, atol=1e-6
    )
    assert not loaded.training
    assert not any(isinstance(m, NoiseBlock) for m in loaded.modules())
    assert all(not p.requires_grad for p in loaded.parameters())


def test_load_snac_keeps_noise_blocks_by_default(tmp_path: Path) -> None:
    save_random_snac(SMALL_SNAC_CONFIG, tmp_path)
    loaded = load_snac(tmp_path, device="cpu")
    assert sum(isinstance(m, NoiseBlock) for m in loaded.modules()) == 4


def test_folding_weight_norm_is_exact() -> None:
    model = build_random_snac(SMALL_SNAC_CONFIG, seed=1)
    disable_noise(model)
    frames = random_frames(4)
    before = full_decode(model, frames)
    assert fold_weight_norm(model) > 0
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules())
    np.testing.assert_allclose(full_decode(model, frames), before, rtol=0, atol=1e-6)


def test_load_snac_names_what_is_missing_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SnacLoadError, match=r"pytorch_model\.bin"):
        load_snac(tmp_path, device="cpu")


def test_load_snac_explains_a_source_that_is_neither_folder_nor_hub_id(
    tmp_path: Path,
) -> None:
    with pytest.raises(SnacLoadError, match="not a local folder"):
        load_snac(str(tmp_path / "no" / "such" / "model"), device="cpu")
