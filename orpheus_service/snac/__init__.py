"""SNAC 24 kHz: model loading and the exact stateful streaming decoder."""
