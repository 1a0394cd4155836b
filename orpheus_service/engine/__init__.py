"""The Orpheus engine: text to prompts, llama tokens to SNAC frames, frames to audio."""
