"""How audio and text travel: `encoding` (PCM to WAV/MP3/...), `streaming` (a
disconnect-aware HTTP stream), `text_feed` and `websocket` (what both sockets share)."""
