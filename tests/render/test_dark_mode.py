"""The mail is readable in both colour schemes: every seed issue's HTML in Chromium with
prefers-color-scheme light and dark, axe-core's WCAG 2 AA rules with no contrast violation, and the
button text and the masthead rule measured from the computed styles."""

from __future__ import annotations

import pytest

from mailer.render.issue import archive_html
from tests.contrast import SCHEMES, axe_violations, install_ratio
from tests.render.conftest import ARTIFACTS, BASE_URL, LIST, SEEDS

MEASURE_JS = """(button) => {
    const c = window.__contrast;
    const link = [...document.querySelectorAll('a')].find(a => a.textContent.trim() === button);
    const rule = [...document.querySelectorAll('td')]
        .find(td => getComputedStyle(td).borderBottomStyle === 'double');
    const section = rule.closest('table');
    return {
        button: c.ratio(getComputedStyle(link).color, c.background(link)),
        // the button against what surrounds it (the call-to-action band)
        button_edge: c.ratio(c.background(link), c.background(link.closest('table').parentElement)),
        rule: c.ratio(getComputedStyle(rule).borderBottomColor, c.background(rule)),
        desk: c.background(document.querySelector('.paper')),
        paper: c.background(section),
    };
}"""


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("index", range(5), ids=[p.stem for p in SEEDS])
def test_every_seed_issue_passes_wcag_aa_contrast(
    browser, axe, seed_renders, seed_contents, index, scheme
):
    page = browser.new_page(color_scheme=scheme, viewport={"width": 640, "height": 900})
    page.set_content(archive_html(seed_renders[index], BASE_URL, LIST.slug), wait_until="load")
    (ARTIFACTS / "render").mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / "render" / f"{SEEDS[index].stem}-{scheme}.png"), full_page=True
    )
    violations = axe_violations(page, axe)
    install_ratio(page)
    measured = page.evaluate(MEASURE_JS, seed_contents[index].cta.button_label)
    page.close()
    assert [v for v in violations if v["id"] == "color-contrast"] == []
    assert violations == []  # nor any other WCAG 2 A/AA rule
    assert measured["button"] >= 4.5, measured  # 16 px text: body-text contrast
    assert measured["button_edge"] >= 3, (
        measured
    )  # a button is a component: 3:1 to its surroundings
    assert measured["rule"] >= 3, measured  # the masthead rule is a visible element, not decoration
    assert measured["desk"] != measured["paper"], measured
