"""`mailer report --html OUT.html` run as an operator runs it (a subprocess), then opened in
Chromium: every request the page makes is recorded (none may leave the file), its charts are drawn
(one visible <svg> per chart), it fits 375 px without a horizontal scroll, and axe-core finds no
contrast problem in the light or the dark scheme. Screenshots go to test-artifacts/report/.
Skipped (with the reason) without Chromium or axe-core, except in CI, where it fails."""

from __future__ import annotations

import datetime as dt
import html
import os
import re

import pytest
from lxml import html as lxml_html

from tests.cli.test_cli import mailer
from tests.conftest import REPO
from tests.contrast import SCHEMES, axe_violations
from tests.reports.clicks_data import (
    DAY,
    EXPECTED_SECTIONS,
    add_links,
    add_visitors,
    deliver,
    scenario,
    tracked_send,
)

ARTIFACTS = REPO / "test-artifacts" / "report"
CHARTS = ["deliveries", "outcomes", "sections", "trend-sent", "trend-rates"]
WIDTHS = (375, 1280)
# Chromium reports a blocked resource as a securitypolicyviolation event.
RECORD_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def run(workdir, database_url, *args):
    return mailer(workdir, *args, env={"DATABASE_URL": database_url})


@pytest.fixture
def page_file(workdir, database_url, factory, settings, sample_list):
    """The scenario's send after three earlier issues (one without click tracking), as a page."""
    for n, tracked in ((3, True), (2, False), (1, True)):
        day = DAY - dt.timedelta(days=n)
        earlier = tracked_send(factory, settings, day, tracked=tracked)
        deliver(factory, earlier, sent_hours=[0] * (10 + n), delivered_hours=[0] * (8 + n))
        if tracked:
            add_links(factory, earlier, [("https://example.org/lead", "headline")])
            add_visitors(factory, earlier, {1: [(day, f"x{k}") for k in range(n)]})
    scenario(factory, settings)
    out = workdir / "reports" / "report.html"
    out.parent.mkdir()
    result = run(workdir, database_url, "report", "--issue", str(DAY), "--html", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    return out


def test_the_page_holds_nothing_that_could_be_fetched(page_file):
    text = page_file.read_text(encoding="utf-8")
    doc = lxml_html.fromstring(text)
    assert doc.xpath("//script | //link | //iframe | //img | //object | //embed") == []
    assert doc.xpath("//@src | //@srcset | //@xlink:href", namespaces=_NS) == []
    assert not re.search(r"url\s*\(|@import|@font-face", text)
    # the only URLs: the SVG namespaces and the counted links the editor may click
    hrefs = doc.xpath("//a/@href")
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert {a.getparent().tag for a in doc.xpath("//a")} == {"td"}
    others = {html.unescape(u) for u in re.findall(r"https?://[^\s\"'<>]+", text)} - set(hrefs)
    assert others == {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "kozea" not in text.lower() and "pygal.org" not in text
    # one chart per figure, drawn by pygal, each with an accessible name
    svgs = {f.get("id"): f.xpath(".//*[local-name()='svg']") for f in doc.xpath("//figure")}
    assert sorted(svgs) == sorted(f"chart-{name}" for name in CHARTS)
    assert all(len(found) == 1 and found[0].get("aria-label") for found in svgs.values())
    # the sections' table in issue order, with the scenario's numbers
    rows = [
        [cell.text_content() for cell in row.xpath("td")]
        for row in doc.xpath("//table[@id='sections-table']/tbody/tr")
    ]
    assert rows == [[n, str(k), str(c), str(u), str(s)] for n, c, u, s, k in EXPECTED_SECTIONS]
    top = [
        row.xpath("td")[0].text_content() for row in doc.xpath("//table[@id='top-links']//tr")[1:]
    ]
    assert top == ["6", "3", "1", "5", "2", "8", "4", "7"]  # by clicks, ties in issue order


_NS = {"xlink": "http://www.w3.org/1999/xlink"}


def _open(browser, page_file, scheme: str, bypass_csp: bool):
    """A page with the report open and every request it made recorded (none but the file's own is
    let through)."""
    page = browser.new_page(color_scheme=scheme, bypass_csp=bypass_csp)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    own = page_file.as_uri()
    page.route(
        "**/*", lambda route: route.continue_() if route.request.url == own else route.abort()
    )
    page.add_init_script(RECORD_CSP)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("networkidle")
    return page, requests


def _charts_drawn(page) -> dict[str, tuple[float, float]]:
    sizes = {}
    for name in CHARTS:
        svgs = page.query_selector_all(f"#chart-{name} > svg")
        assert len(svgs) == 1, name
        box = svgs[0].bounding_box()
        sizes[name] = (box["width"], box["height"]) if box else (0, 0)
    return sizes


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_page_in_chromium_fetches_nothing_draws_its_charts_and_reads_well(
    browser, axe, page_file, scheme
):
    # as written: the page's own Content-Security-Policy in force, and nothing it blocked
    page, requests = _open(browser, page_file, scheme, bypass_csp=False)
    assert requests == [page_file.as_uri()]
    assert page.evaluate("window.__csp") == []
    page.close()
    # without its policy (axe-core is a script): still nothing fetched, so the policy hides nothing
    page, requests = _open(browser, page_file, scheme, bypass_csp=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        sizes = _charts_drawn(page)
        assert all(w > 100 and h > 50 for w, h in sizes.values()), (width, sizes)
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"horizontal scroll at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"report-{scheme}-{width}.png"), full_page=True)
        found = [v for v in axe_violations(page, axe) if v["id"] == "color-contrast"]
        if found:
            problems[width] = found
    # two chart columns side by side at 1280, one above the other at 375
    page.set_viewport_size({"width": 1280, "height": 900})
    wide = page.query_selector("#chart-deliveries").bounding_box()
    beside = page.query_selector("#chart-outcomes").bounding_box()
    assert beside["x"] > wide["x"] and beside["y"] == wide["y"]
    assert requests == [page_file.as_uri()]
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("Georgia")
    page.close()
    assert problems == {}


def test_the_page_follows_the_colour_scheme(browser, page_file):
    colours = {}
    for scheme in SCHEMES:
        page, _ = _open(browser, page_file, scheme, bypass_csp=False)
        colours[scheme] = page.evaluate(
            """() => [getComputedStyle(document.querySelector('main')).backgroundColor,
                      getComputedStyle(document.querySelector('#chart-sections .color-0 rect')
                        || document.querySelector('#chart-sections rect.rect')).fill]"""
        )
        page.close()
    assert colours["light"][0] == "rgb(255, 255, 255)" and colours["dark"][0] == "rgb(28, 28, 28)"
    # the first series is the newsletter's accent in each scheme
    assert colours["light"][1] == "rgb(179, 38, 30)" and colours["dark"][1] == "rgb(255, 138, 128)"


def test_a_send_without_click_tracking_and_hostile_stored_text(
    workdir, database_url, factory, settings, sample_list
):
    send_id = tracked_send(factory, settings, DAY)
    deliver(factory, send_id, sent_hours=[0] * 3, delivered_hours=[0])
    add_links(
        factory,
        send_id,
        [
            ('https://x.example/"><script>alert(1)</script>', "<b>bold</b>"),
            ("javascript:alert(2)", "tools"),
        ],
    )
    out = workdir / "hostile.html"
    assert (
        run(workdir, database_url, "report", "--issue", str(DAY), "--html", str(out)).returncode
        == 0
    )
    doc = lxml_html.fromstring(out.read_text(encoding="utf-8"))
    assert doc.xpath("//script") == [] and doc.xpath("//b") == []
    assert doc.xpath("//a/@href") == ['https://x.example/"><script>alert(1)</script>']
    cells = [td.text_content() for td in doc.xpath("//table[@id='top-links']//td")]
    assert "javascript:alert(2)" in cells and "<b>bold</b>" in cells

    later = DAY + dt.timedelta(days=1)
    tracked_send(factory, settings, later, tracked=False)
    plain = workdir / "plain.html"
    assert (
        run(workdir, database_url, "report", "--issue", str(later), "--html", str(plain)).returncode
        == 0
    )
    doc = lxml_html.fromstring(plain.read_text(encoding="utf-8"))
    assert "without click tracking" in doc.get_element_by_id("no-click-tracking").text_content()
    assert doc.xpath("//figure[@id='chart-sections']") == []


def test_an_unwritable_out_is_one_line_and_the_page_is_replaced_whole(
    workdir, database_url, factory, settings, sample_list
):
    tracked_send(factory, settings, DAY)
    missing = workdir / "no-such-folder" / "r.html"
    result = run(workdir, database_url, "report", "--issue", str(DAY), "--html", str(missing))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"Error: --html {missing}: cannot write this file (No such file or directory); choose a "
    )
    under_a_file = workdir / "lists" / "ai-morning-post.toml" / "r.html"
    result = run(workdir, database_url, "report", "--issue", str(DAY), "--html", str(under_a_file))
    assert result.returncode == 1 and "cannot write this file (Not a directory)" in result.stderr
    out = workdir / "r.html"
    out.write_text("an older page")
    os.chmod(out, 0o600)
    assert (
        run(workdir, database_url, "report", "--issue", str(DAY), "--html", str(out)).returncode
        == 0
    )
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".r.html")) == []
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
