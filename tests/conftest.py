"""Shared pytest fixtures: real llama-server instances with tiny GGUFs."""

pytest_plugins = ["tests.support.llama_fixtures"]
