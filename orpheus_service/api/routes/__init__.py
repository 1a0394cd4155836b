"""The service's routes, one module per protocol: `openai` (OpenAI's speech API), `unmute`
(unmute's msgpack socket), `pcm_socket` (text in, PCM out), `playground` (the browser page),
`ops` (/health, /metrics)."""
