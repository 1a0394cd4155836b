"""A headless Debian chromium driven by selenium through /usr/bin/chromedriver.

`chrome_driver()` installs Debian's `chromium` and `chromium-driver` with apt when
they are missing (as root), and skips the test with the reason when that cannot be
done. No browser is ever downloaded by selenium: the driver and binary paths are given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "artifacts"
"""Where screenshots of browser tests are kept (ignored by git)."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1000,900",
)


@cache
def _apt_install() -> str | None:
    """Install chromium and chromium-driver with apt, once per test run; None on success,
    else why not (a failed attempt is not repeated for every test)."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available (not a Debian system)"
    if os.geteuid() != 0:
        return "installing chromium with apt needs root"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    packages = ["chromium", "chromium-driver"]
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took more than 15 minutes"
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
    return None


def ensure_chromium() -> None:
    """Make Debian's chromium and chromedriver present, or skip the test saying why."""
    if CHROMEDRIVER.exists() and CHROMIUM.exists():
        return
    reason = _apt_install()
    if reason is not None or not CHROMEDRIVER.exists():
        pytest.skip(f"browser tests need Debian's chromium and chromium-driver: {reason}")


def chrome_driver(profile_dir: Path) -> Any:
    """A headless chromium session with a fresh profile in `profile_dir`."""
    ensure_chromium()
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


def save_screenshot(driver: Any, name: str) -> Path:
    """Save a screenshot under .cache/artifacts/ and print its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
