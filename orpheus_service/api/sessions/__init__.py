"""Sessions: `session` (one synthesis on one of `limiter`'s channels, per client too)."""
