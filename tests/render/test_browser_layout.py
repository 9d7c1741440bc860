"""Each seed issue in headless Chromium: no horizontal scrolling at 375 px with columns stacked, the
desktop layout at 640 px. Screenshots go to test-artifacts/render/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailer.render.issue import archive_html
from tests.contrast import CHROMIUM_ARGS
from tests.render.conftest import ARTIFACTS, BASE_URL, LIST, SEEDS

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "Chromium is required in CI: .ci/run installs it (apt-get install chromium)"
            )
        pytest.skip("Chromium not installed (/usr/bin/chromium): apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def layout(browser, html: str, width: int, shot: Path) -> dict:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_content(html, wait_until="load")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    # the two opinion columns: side by side (same top) on desktop, stacked on a phone
    result = page.evaluate("""() => {
        const heads = [...document.querySelectorAll('h3')].slice(1, 3)
            .map(h => h.getBoundingClientRect());
        return {scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
                tops: heads.map(r => Math.round(r.top)), lefts: heads.map(r => Math.round(r.left))};
    }""")
    page.close()
    return result


@pytest.mark.parametrize("index", range(5), ids=[p.stem for p in SEEDS])
def test_phone_and_desktop_layout(browser, seed_renders, index):
    html = archive_html(seed_renders[index], BASE_URL, LIST.slug)
    phone = layout(browser, html, 375, ARTIFACTS / "render" / f"{SEEDS[index].stem}-375.png")
    assert phone["scrollWidth"] <= phone["viewport"], "horizontal scrolling on a phone"
    assert phone["tops"][0] < phone["tops"][1] and phone["lefts"][0] == phone["lefts"][1], (
        "columns not stacked"
    )
    desktop = layout(browser, html, 640, ARTIFACTS / "render" / f"{SEEDS[index].stem}-640.png")
    assert desktop["scrollWidth"] <= desktop["viewport"]
    assert desktop["tops"][0] == desktop["tops"][1] and desktop["lefts"][0] < desktop["lefts"][1], (
        "not the desktop layout"
    )
