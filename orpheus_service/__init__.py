"""The Orpheus TTS service as plain Python (Modal wraps it, never the other way round).

The folders are layers, each importing only those below it (tests/test_import_graph.py):

- `vocabulary/`: what every layer speaks: `tokens` (Orpheus's token ids, the audio token
  layout, `Frame`), `audio` (PCM), `voices`, `prompt`, `sampling` (one model: defaults,
  bounds) and `token_source` (what the engine needs of a language model).
- `llama/`: the llama.cpp side: `client` (streaming `/completion` client) and `server`
  (the `llama-server` command line and process).
- `snac/`: SNAC audio decoding: `loading` (weights, folding) and the exact streaming
  decoder (`decoder`, with its `stream_graph`, `stream_ops` and `packed_linear`).
- `engine/`: text to audio: `segmenter` (sentence splitting), `tokens`
  (`OrpheusTokenParser`: audio tokens to SNAC frames), `word_aligned_audio` (audio held
  until the words starting in it are timed by `unmute.tts.word_timer`), `frame_decoder`
  and `scheduler`/`snac_batch` (batched decoding), `generation_gate` (llama-server's
  time to the syntheses closest to running dry), `events`, `synthesis` and `pipeline`
  (`OrpheusEngine`, which runs them all).
- `settings` (`ORPHEUS_*` variables) and `serving` (uvicorn's paced WebSocket protocol).
- `api/`: the FastAPI service. `app` (`create_app`) assembles it from `wiring` (the
  real dependencies, the engine built from the settings), `context` (`ServiceDeps`,
  `ServiceContext`, `get_context`), `speech` (what the API needs of the engine),
  `errors` (failures as HTTP errors), `validation` (voice and input checks), `voices`
  and `metrics`; then by folder: `routes/` (one module per protocol: `openai`,
  `unmute`, `pcm_socket`, `playground`, `ops`), `middleware/` (`auth`, `browser_auth`,
  `body_limit`, `http_metrics`, `websocket_guard`, `log_filters`), `sessions/`
  (`session`, `limiter`) and `transport/` (`encoding`, `streaming`, `text_feed`,
  `websocket`).
- `cli` (`unmute-tts serve`).
"""
