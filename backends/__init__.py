"""TTS backends, one package each; each registers an `unmute.tts_backends` entry point."""
