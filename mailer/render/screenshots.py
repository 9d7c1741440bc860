"""PNG screenshots of a preview at phone and desktop widths, taken by headless Chromium when it is
installed (`mailer preview`)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
)
SCREENSHOT_WIDTHS = (375, 640)  # a phone, and the width mail clients give a desktop message


def chromium() -> str | None:
    """The Chromium on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html_path: Path, width: int, out: Path, browser: str, height: int = 6000) -> Path:
    subprocess.run(
        [
            browser,
            *CHROMIUM_ARGS,
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            html_path.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def screenshots(html_path: Path, browser: str) -> Iterator[Path]:
    """<html_path>.<width>.png for each width, yielded as each is written."""
    for width in SCREENSHOT_WIDTHS:
        yield screenshot(html_path, width, html_path.with_suffix(f".{width}.png"), browser)
