"""Tiny llama-architecture GGUF files with the Orpheus vocabulary, for a real llama-server.

The vocabulary follows the Llama-3 layout that Orpheus extends: 128256 base tokens
(256 byte-level tokens, some merged pairs, filler, and the Llama-3 control tokens at
their real ids 128000..128255), then `<custom_token_N>` at id 128256 + N for
N = 0..28681. So the Orpheus ids hold: 128257 start_of_speech, 128258
end_of_speech, 128259..128262 human/ai markers, audio tokens from 128266.

Two weight flavours:

- `random`: small random weights; the model babbles over the whole vocabulary.
- `orpheus_like`: a deterministic bigram machine that speaks valid Orpheus audio,
  whatever the sampling settings. Every block is the identity (attention and FFN
  output projections are zero), so the logits depend on the last token only.
  Each embedding row points at the token that must follow (a one-hot slot plus
  the 12 bits of a code, as +-1), each output row describes its token the same
  way, and the scale makes the target win by a logit margin of about 30:

  - after start_of_speech comes audio token k = 0, and audio token k (counted over
    audio tokens) is `audio_token(k % 7, (start_code + k) % 4096)`: slots cycle
    0..6 and codes count up (from code 0 by default, which must stay legal);
  - with `frames_before_end=N`, end_of_speech follows audio token 7N - 1;
  - with `drop_every=D`, frames D-1, 2D-1, ... are spoiled: their slot-3 token is
    written for slot 4 (out of range for the parser), while the following tokens
    stay in sync, so exactly that frame is dropped;
  - after any other token comes start_of_speech.

  `expected_audio_tokens()` gives the sequence. It is exact for the first 4096
  audio tokens (585 frames), after which codes wrap and the drop/end points may
  be hit again.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

BASE_VOCAB = 128256
N_CUSTOM_TOKENS = 28682
VOCAB_SIZE = BASE_VOCAB + N_CUSTOM_TOKENS
BEGIN_OF_TEXT = 128000
END_OF_TEXT = 128001
EOT_ID = 128009
START_OF_SPEECH = 128257
END_OF_SPEECH = 128258
AUDIO_BASE = BASE_VOCAB + 10
CODES = 4096
SLOTS = 7

_LLAMA3_CONTROL = {
    128000: "<|begin_of_text|>",
    128001: "<|end_of_text|>",
    128006: "<|start_header_id|>",
    128007: "<|end_header_id|>",
    128008: "<|eom_id|>",
    128009: "<|eot_id|>",
}

_DIM = 64
_HEADS = 4
_FF = 128
_CODE_BITS = 12
_BITS = slice(SLOTS, SLOTS + _CODE_BITS)
_STATE_TEXT = SLOTS + _CODE_BITS
_STATE_END = _STATE_TEXT + 1
_SPOIL_SLOT = 3
# Embedding rows all have squared norm 16 (slot 2^2 + 12 bits, or one state 4^2), so
# RMSNorm scales each by 2. The target token then scores 2 * (2 * 8 + 12 * 8) = 224;
# a wrong slot or one wrong bit costs 32 in logit.
_SLOT_VALUE = 2.0
_STATE_VALUE = 4.0
_SLOT_WEIGHT = 8.0
_BIT_WEIGHT = 8.0
_STATE_WEIGHT = (_SLOT_VALUE * _SLOT_WEIGHT + _CODE_BITS * _BIT_WEIGHT) / _STATE_VALUE


class CustomTokenType(Enum):
    """How the GGUF types `<custom_token_N>`: both exist in the wild."""

    USER_DEFINED = gguf.TokenType.USER_DEFINED
    CONTROL = gguf.TokenType.CONTROL


def audio_token(slot: int, code: int) -> int:
    """The id of the Orpheus audio token for `code` in `slot`."""
    return AUDIO_BASE + slot * CODES + code


def _bytes_to_unicode() -> list[str]:
    """GPT-2 byte-level alphabet: the printable character standing for each byte."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars: dict[int, int] = {b: b for b in keep}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


def build_vocab(custom_type: CustomTokenType) -> tuple[list[str], list[int], list[str]]:
    """Tokens, token types and BPE merges of the Orpheus vocabulary layout."""
    byte_chars = _bytes_to_unicode()
    tokens = list(byte_chars)
    merges: list[str] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    space = byte_chars[ord(" ")]
    for first in [space, *letters]:
        for second in letters:
            tokens.append(first + second)
            merges.append(f"{first} {second}")
    while len(tokens) < BEGIN_OF_TEXT:
        tokens.append(f"[filler{len(tokens)}]")
    for token_id in range(BEGIN_OF_TEXT, BASE_VOCAB):
        reserved = f"<|reserved_special_token_{token_id - BEGIN_OF_TEXT}|>"
        tokens.append(_LLAMA3_CONTROL.get(token_id, reserved))
    types = [int(gguf.TokenType.NORMAL)] * BEGIN_OF_TEXT
    types += [int(gguf.TokenType.CONTROL)] * (BASE_VOCAB - BEGIN_OF_TEXT)
    tokens += [f"<custom_token_{n}>" for n in range(N_CUSTOM_TOKENS)]
    types += [int(custom_type.value)] * N_CUSTOM_TOKENS
    return tokens, types, merges


Weights = dict[str, npt.NDArray[np.float32]]


def _random_weights(rng: np.random.Generator, n_layers: int, scale: float) -> Weights:
    def mat(rows: int, cols: int) -> npt.NDArray[np.float32]:
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    weights: Weights = {
        "token_embd.weight": mat(VOCAB_SIZE, _DIM),
        "output_norm.weight": np.ones(_DIM, dtype=np.float32),
        "output.weight": mat(VOCAB_SIZE, _DIM),
    }
    for i in range(n_layers):
        weights |= {
            f"blk.{i}.attn_norm.weight": np.ones(_DIM, dtype=np.float32),
            f"blk.{i}.attn_q.weight": mat(_DIM, _DIM),
            f"blk.{i}.attn_k.weight": mat(_DIM, _DIM),
            f"blk.{i}.attn_v.weight": mat(_DIM, _DIM),
            f"blk.{i}.attn_output.weight": mat(_DIM, _DIM),
            f"blk.{i}.ffn_norm.weight": np.ones(_DIM, dtype=np.float32),
            f"blk.{i}.ffn_gate.weight": mat(_FF, _DIM),
            f"blk.{i}.ffn_up.weight": mat(_FF, _DIM),
            f"blk.{i}.ffn_down.weight": mat(_DIM, _FF),
        }
    return weights


def _bits(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Each code's 12 bits as +-1 (one row per code)."""
    shifts = np.arange(_CODE_BITS)
    return (((codes[:, None] >> shifts) & 1) * 2 - 1).astype(np.float32)


def _is_spoiled(frame: int, drop_every: int | None) -> bool:
    return drop_every is not None and (frame + 1) % drop_every == 0


def expected_audio_tokens(
    n_frames: int, *, drop_every: int | None = None, start_code: int = 0
) -> list[int]:
    """The audio token ids an `orpheus_like` model emits for its first `n_frames` frames."""
    ids: list[int] = []
    for k in range(n_frames * SLOTS):
        slot, code = k % SLOTS, (start_code + k) % CODES
        if slot == _SPOIL_SLOT and _is_spoiled(k // SLOTS, drop_every):
            slot += 1
        ids.append(audio_token(slot, code))
    return ids


def _orpheus_like_weights(
    rng: np.random.Generator,
    n_layers: int,
    frames_before_end: int | None,
    drop_every: int | None,
    start_code: int,
) -> Weights:
    weights = _random_weights(rng, n_layers, 0.02)
    for i in range(n_layers):  # identity blocks
        weights[f"blk.{i}.attn_output.weight"][:] = 0.0
        weights[f"blk.{i}.ffn_down.weight"][:] = 0.0
    embd = weights["token_embd.weight"]
    out = weights["output.weight"]
    embd[:] = 0.0
    out[:] = 0.0

    audio = slice(audio_token(0, 0), audio_token(SLOTS, 0))
    slots = np.repeat(np.arange(SLOTS), CODES)
    codes = np.tile(np.arange(CODES, dtype=np.int64), SLOTS)
    # output rows: what each token is
    out[audio, :SLOTS] = np.eye(SLOTS, dtype=np.float32)[slots] * _SLOT_WEIGHT
    out[audio, _BITS] = _bits(codes) * _BIT_WEIGHT
    out[START_OF_SPEECH, _STATE_TEXT] = _STATE_WEIGHT
    out[END_OF_SPEECH, _STATE_END] = _STATE_WEIGHT
    # embedding rows: what must follow each token
    embd[:, _STATE_TEXT] = _STATE_VALUE

    def point_at(token: int | slice, slot: int | npt.NDArray[np.int64], code: object) -> None:
        embd[token] = 0.0
        embd[token, :SLOTS] = np.eye(SLOTS, dtype=np.float32)[slot] * _SLOT_VALUE
        embd[token, _BITS] = _bits(np.atleast_1d(np.asarray(code, dtype=np.int64)))

    point_at(audio, (slots + 1) % SLOTS, (codes + 1) % CODES)
    point_at(START_OF_SPEECH, 0, start_code)
    frames = CODES // SLOTS
    for frame in range(frames):
        if _is_spoiled(frame, drop_every):
            k = frame * SLOTS + _SPOIL_SLOT  # the spoiled position
            code = (start_code + k) % CODES
            point_at(audio_token(_SPOIL_SLOT - 1, (code - 1) % CODES), _SPOIL_SLOT + 1, code)
            point_at(audio_token(_SPOIL_SLOT + 1, code), _SPOIL_SLOT + 1, (code + 1) % CODES)
    if frames_before_end is not None:
        if not 0 < frames_before_end <= frames:
            raise ValueError(f"frames_before_end must be in 1..{frames}")
        last = audio_token(SLOTS - 1, (start_code + frames_before_end * SLOTS - 1) % CODES)
        embd[last] = 0.0
        embd[last, _STATE_END] = _STATE_VALUE
    return weights


def write_tiny_gguf(
    path: Path,
    *,
    flavour: str = "orpheus_like",
    custom_type: CustomTokenType = CustomTokenType.USER_DEFINED,
    n_layers: int = 1,
    frames_before_end: int | None = None,
    drop_every: int | None = None,
    start_code: int = 0,
    seed: int = 0,
    f16: bool = True,
    context_length: int = 4096,
) -> Path:
    """Write a tiny llama GGUF with the Orpheus vocabulary to `path`; return `path`.

    `flavour` is "orpheus_like" or "random" (see the module docstring).
    `frames_before_end`, `drop_every` and `start_code` shape the `orpheus_like`
    output (see the module docstring and `expected_audio_tokens`).
    """
    if flavour not in ("orpheus_like", "random"):
        raise ValueError(f"unknown flavour {flavour!r}")
    if drop_every is not None and drop_every < 1:
        raise ValueError("drop_every must be >= 1")
    rng = np.random.default_rng(seed)
    if flavour == "random":
        weights = _random_weights(rng, n_layers, 0.3)
    else:
        weights = _orpheus_like_weights(rng, n_layers, frames_before_end, drop_every, start_code)
    tokens, types, merges = build_vocab(custom_type)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(f"tiny-orpheus-{flavour}-{custom_type.name.lower()}")
    writer.add_context_length(context_length)
    writer.add_embedding_length(_DIM)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(_FF)
    writer.add_head_count(_HEADS)
    writer.add_head_count_kv(_HEADS)
    writer.add_rope_dimension_count(_DIM // _HEADS)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(VOCAB_SIZE)
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(BEGIN_OF_TEXT)
    writer.add_eos_token_id(EOT_ID)
    writer.add_add_bos_token(True)
    for name, array in weights.items():
        writer.add_tensor(name, array.astype(np.float16) if f16 and array.ndim == 2 else array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
