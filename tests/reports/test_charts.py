"""The report's charts on the data an early or unusual send has: nothing yet, one point, gaps,
zeros; each is one <svg> with no script, no comment and no random id."""

from __future__ import annotations

import pytest
from lxml import etree

from mailer.track import charts

CASES = {
    "deliveries": [
        lambda: charts.deliveries_chart([], [], []),
        lambda: charts.deliveries_chart(["11-21 06:00"], [3], [0]),
        lambda: charts.deliveries_chart(
            [f"h{n}" for n in range(60)], [n for n in range(60)], [0] * 60
        ),
    ],
    "outcomes": [
        lambda: charts.outcomes_chart([("hard bounces", 0), ("complaints", 0)]),
        lambda: charts.outcomes_chart([("hard bounces", 2), ("complaints", 1)]),
    ],
    "sections": [
        lambda: charts.sections_chart([]),
        lambda: charts.sections_chart([("headline", 0, 0, 0)]),
        lambda: charts.sections_chart(
            [("a-very-long-section-name-indeed", 5, 3, 1), ("b", 1, 1, 0)]
        ),
    ],
    "trend-sent": [
        lambda: charts.trend_sent_chart([], []),
        lambda: charts.trend_sent_chart(["11-21"], [0]),
    ],
    "trend-rates": [
        lambda: charts.trend_rates_chart([], [], []),
        lambda: charts.trend_rates_chart(["11-21"], [None], [None]),
        lambda: charts.trend_rates_chart(["11-20", "11-21"], [1.0, None], [None, 0.05]),
        lambda: charts.trend_rates_chart(["11-20", "11-21"], [0.9, 0.95], [0.0, 0.0]),
    ],
}


@pytest.mark.parametrize(
    "name,draw", [(name, draw) for name, draws in CASES.items() for draw in draws]
)
def test_every_chart_draws_clean_svg(name, draw):
    svg = str(draw())
    root = etree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("id") == f"chart-{name}"
    assert root.get("role") == "img" and root.get("aria-label")
    assert not root.xpath("//*[local-name()='script'] | //comment()")
    assert "tooltip-overlay" not in svg and "kozea" not in svg.lower()
    assert str(draw()) == svg  # the same data draws the same bytes


def test_sections_are_drawn_top_to_bottom_in_issue_order():
    root = etree.fromstring(str(charts.sections_chart([("first", 1, 1, 0), ("second", 9, 1, 0)])))
    labels = {
        t.text: float(t.get("y"))
        for t in root.xpath("//*[local-name()='text']")
        if t.text in ("first", "second")
    }
    assert len(labels) == 2 and labels["first"] < labels["second"]
