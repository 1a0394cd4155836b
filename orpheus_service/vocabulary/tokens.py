"""Orpheus's token ids and the layout of its audio tokens.

Llama-3 control tokens, then Orpheus's own: `<custom_token_N>` has id
`CUSTOM_TOKEN_BASE + N`. Audio tokens start at `<custom_token_10>`: a frame is
`SLOTS_PER_FRAME` tokens, slot k of a frame carrying a code in 0..CODEBOOK_SIZE-1
as the id `AUDIO_TOKEN_BASE + k * CODEBOOK_SIZE + code`.
"""

from __future__ import annotations

# Llama-3 control tokens.
BEGIN_OF_TEXT = 128000
EOT_ID = 128009

# Orpheus control tokens.
CUSTOM_TOKEN_BASE = 128256
START_OF_SPEECH = 128257
END_OF_SPEECH = 128258
START_OF_HUMAN = 128259
END_OF_HUMAN = 128260
START_OF_AI = 128261
END_OF_AI = 128262

# Audio tokens: `<custom_token_10>` onwards, 7 slots of 4096 codes each.
AUDIO_TOKEN_OFFSET = 10
AUDIO_TOKEN_BASE = CUSTOM_TOKEN_BASE + AUDIO_TOKEN_OFFSET
CODEBOOK_SIZE = 4096
SLOTS_PER_FRAME = 7
AUDIO_TOKEN_END = AUDIO_TOKEN_BASE + SLOTS_PER_FRAME * CODEBOOK_SIZE
"""One past the last audio token id (`<custom_token_28681>` is the last one)."""

Frame = tuple[int, int, int, int, int, int, int]
"""Seven codes (0..4095) in Orpheus slot order: one SNAC frame."""
