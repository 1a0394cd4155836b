"""The documentation's promises hold: the backend example runs, every setting is documented."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from unmute.tts.protocol import TTSAudioMessage, TTSClientEosMessage, TTSTextMessage
from unmute.tts.registry import BackendSpec

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


async def test_contributing_backend_example_speaks() -> None:
    (example,) = python_blocks(ROOT / "CONTRIBUTING.md")
    module = types.ModuleType("my_tts")
    exec(compile(example, "CONTRIBUTING.md", "exec"), module.__dict__)
    spec = module.__dict__["backend"]
    assert isinstance(spec, BackendSpec)
    tts = spec.create(None)
    await tts.start_up()
    for word in ["hello", "there"]:
        await tts.send(word)
    await tts.send(TTSClientEosMessage())
    messages = [m async for m in tts]
    assert [m.text for m in messages if isinstance(m, TTSTextMessage)] == ["hello", "there"]
    assert sum(len(m.pcm) for m in messages if isinstance(m, TTSAudioMessage)) == 2 * 4800


def test_readme_configuration_table_lists_every_setting() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import config_table  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    readme = (ROOT / "README.md").read_text()
    assert config_table.render_readme(readme) == readme, (
        "README.md's configuration table is stale: run python scripts/config_table.py --write"
    )
