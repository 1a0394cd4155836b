"""What wraps every request: `auth` (API key), `browser_auth` (CORS, the key as a
WebSocket subprotocol), `body_limit` (HTTP body sizes), `http_metrics` (request counters),
`websocket_guard` (sockets refused before they are accepted) and `log_filters` (client
disconnects logged quietly)."""
