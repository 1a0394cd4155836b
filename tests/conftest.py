"""Shared pytest fixtures: real llama-server instances with tiny GGUFs, the local service."""

pytest_plugins = [
    "tests.support.llama_fixtures",
    "tests.support.service_fixtures",
    "tests.support.orpheus_fixtures",
]
