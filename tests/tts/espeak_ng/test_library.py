"""The ctypes binding of libespeak-ng: a library that cannot be loaded is an error naming
the path, and the real one reports its version and lists its voices."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from unmute.tts.espeak_ng.library import EspeakError, Library

needs_espeak = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None,
    reason="needs the espeak extra: pip install -e '.[espeak]'",
)


def test_a_library_that_cannot_be_loaded_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "libespeak-ng.so"
    with pytest.raises(EspeakError, match=str(missing)):
        Library(str(missing))


REAL_LIBRARY = """
import json, espeakng_loader
from unmute.tts.espeak_ng.library import Library
library = Library(espeakng_loader.get_library_path())
rate = library.initialize(100, espeakng_loader.get_data_path())
print(json.dumps({"rate": rate, "voices": library.list_voices("en"), "info": library.info()}))
"""


@needs_espeak
def test_the_real_library_lists_english_among_its_voices() -> None:
    # In a process of its own: the library is global, and this one is initialized here.
    done = subprocess.run(
        [sys.executable, "-c", REAL_LIBRARY], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["rate"] > 0
    assert any(identifier.lower().endswith("en-us") for _, identifier in answer["voices"])
    assert answer["info"][0][:1].isdigit()
