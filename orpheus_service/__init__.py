"""The Orpheus TTS service as plain Python (Modal wraps it, never the other way round).

The folders follow the pipeline, text in, audio out:

- `engine/`: text to audio frames: `prompt` (Orpheus prompt and voices), `segmenter`
  (sentence splitting), `tokens` (`OrpheusTokenParser`: audio tokens to SNAC frames),
  `word_timing`, `frame_decoder` and `scheduler`/`decode_backends` (batched decoding),
  `events`, and `pipeline` (`OrpheusEngine`, which runs them all).
- `llama/`: the llama.cpp side: `client` (streaming `/completion` client) and `server`
  (the `llama-server` command line and process).
- `snac/`: SNAC audio decoding: `loading` (weights, folding) and the exact streaming
  decoder (`decoder`, with its `stream_graph`, `stream_ops` and `packed_linear`).
- `api/`: the FastAPI service: `app`, `wiring` (real dependencies), `sessions`, `auth`,
  `metrics`, `encoding` (PCM to WAV/MP3/...), `responses`, and one module per
  protocol's routes (`routes_openai`, `routes_ws`).
- `settings` (`ORPHEUS_*` variables) and `cli` (`unmute-tts serve`).
"""
