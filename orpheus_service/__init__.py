"""The Orpheus TTS service as plain Python (Modal wraps it, never the other way round).

The folders follow the pipeline, text in, audio out:

- `engine/`: text to audio frames: `prompt` (Orpheus prompt and voices), `segmenter`
  (sentence splitting), `tokens` (`OrpheusTokenParser`: audio tokens to SNAC frames),
  `word_aligned_audio` (audio held until the words starting in it are timed by
  `unmute.tts.word_timer`), `frame_decoder` and `scheduler`/`decode_backends` (batched decoding),
  `generation_gate` (llama-server's time to the syntheses closest to running dry),
  `events`, and `pipeline` (`OrpheusEngine`, which runs them all).
- `llama/`: the llama.cpp side: `client` (streaming `/completion` client) and `server`
  (the `llama-server` command line and process).
- `snac/`: SNAC audio decoding: `loading` (weights, folding) and the exact streaming
  decoder (`decoder`, with its `stream_graph`, `stream_ops` and `packed_linear`).
- `api/`: the FastAPI service. `app` (`create_app`) assembles it from `wiring` (the
  real dependencies), `context` (`ServiceDeps`, `ServiceContext`, `get_context`),
  `speech` (what the API needs of the engine), `sessions` (one synthesis on one of
  `limiter`'s channels, per client too), `body_limit` (HTTP body sizes), `errors`
  (failures as HTTP errors), `validation` (voice and input checks), `auth`,
  `metrics`, `encoding` (PCM to WAV/MP3/...), `streaming` (disconnect-aware HTTP
  stream), `text_feed` and `websocket` (what both sockets share), and one module per
  protocol's routes: `routes_openai`, `routes_unmute` (unmute's msgpack socket),
  `routes_pcm_socket` (the text-in, PCM-out socket), `routes_ops` (/health, /metrics).
- `settings` (`ORPHEUS_*` variables), `cli` (`unmute-tts serve`) and `closing`
  (`async with` for objects with `aclose()`).
"""
