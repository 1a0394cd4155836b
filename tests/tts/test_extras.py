"""Import guards: a missing optional package names the pip command that installs it."""

from __future__ import annotations

import pytest

from unmute.tts.extras import MissingExtraError, install_hint, missing_modules, require_extra


def test_an_installed_module_is_returned() -> None:
    assert require_extra("json", "dev").__name__ == "json"


def test_a_missing_module_names_the_package_the_feature_and_the_install_command() -> None:
    with pytest.raises(MissingExtraError) as caught:
        require_extra("no_such_module_here", "piper", feature="the piper backend")
    message = str(caught.value)
    assert "the piper backend" in message and "'no_such_module_here'" in message
    assert install_hint("piper") in message
    assert isinstance(caught.value, ImportError)


def test_the_install_hint_is_the_pip_command_for_the_extra() -> None:
    assert install_hint("service").startswith("pip install 'unmute-tts[service]'")


def test_missing_modules_lists_only_those_not_found() -> None:
    assert missing_modules("json", "no_such_module_here") == ["no_such_module_here"]
