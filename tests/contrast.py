"""Colour contrast in a real browser: axe-core's WCAG 2 AA rules, and WCAG contrast ratios computed
from the styles Chromium computed (for what axe does not rate: a button's text against the button,
a rule line against what is behind it). The fixtures `axe` and `browser` that the mail's and the
web pages' contrast tests share are in tests/conftest.py. `contrast_ratio` is the same ratio in
Python, for colours read from pixels (the share cards, tests/render/test_card.py).

axe-core comes from the npm package pinned in tests/package.json (`make test` installs it with
`npm ci`); without it the tests skip with the reason, except when CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# How every browser test starts the system Chromium (headless, nothing fetched on its own).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCHEMES = ("light", "dark")
WCAG_AA = ["wcag2a", "wcag2aa"]


def missing_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def axe_source() -> str:
    if not AXE.is_file():
        missing_or_fail(
            f"axe-core is not installed ({AXE} is missing): run `make test`, or "
            "`npm ci --prefix tests`"
        )
    return AXE.read_text(encoding="utf-8")


def launch(playwright):
    if CHROMIUM is None:
        missing_or_fail("Chromium is not installed (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        missing_or_fail("playwright is not installed (pip install playwright)")
    return start()


def axe_violations(page, source: str) -> list[dict]:
    """axe-core's WCAG 2 A and AA violations on the page as it is now: [{id, nodes: [(target,
    summary)]}]."""
    page.add_script_tag(content=source)
    result = page.evaluate(
        """async (tags) => {
        const r = await axe.run(
            document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.map(v => ({
            id: v.id, nodes: v.nodes.map(n => [n.target.join(' '), n.failureSummary])}));
    }""",
        WCAG_AA,
    )
    return result


# getComputedStyle colours -> WCAG 2 relative luminance and contrast ratio. The background of an
# element is the first opaque background-color on it or an ancestor (the pages use no images behind
# text).
RATIO_JS = """
window.__contrast = (() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const opaque = (c) => {
    const v = rgb(c);
    return v.length === 3 || (v.length === 4 && v[3] > 0.99);
  };
  const lum = (c) => {
    const [r, g, b] = rgb(c).slice(0, 3).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (opaque(c)) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  return {ratio, background};
})();
"""


def install_ratio(page) -> None:
    page.evaluate(RATIO_JS)


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255 channels), as RATIO_JS computes it in the
    browser: for pictures the browser does not style (the share cards)."""
    lighter, darker = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(rgb: tuple[int, int, int]) -> float:
    linear = [
        v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in (c / 255 for c in rgb)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
