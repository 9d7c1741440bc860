"""The HTML report's charts as inline SVG, drawn by pygal (ARCHITECTURE.md, "Clicks").

pygal's SVG is made for a page that loads its tooltip script from a CDN: `js=[]` leaves that
reference out, and `inline_svg` removes what is left of it (the inline config script, the tooltip
layer that only the script shows, the comments naming pygal's web site), so the page makes no
request. Colours are CSS custom properties (`var(--ink)` ...) that the page defines for the light
and the dark scheme: the SVG is inline, so it follows `prefers-color-scheme` with the page. Every
chart has a fixed id (pygal would use a random one), so the same data draws the same page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pygal
from lxml import etree
from markupsafe import Markup
from pygal.style import Style

FONT = "Georgia, 'Times New Roman', serif"  # the newsletter's face (templates/email)
# Series colours: the page sets these for each scheme (templates/report/report.html.j2).
SERIES = ("var(--accent)", "var(--ink)", "var(--muted)")
WIDTH, HEIGHT = 440, 300  # about the width of a column of the page: 1:1 at 1280 px, 0.8 at 375

STYLE = Style(
    font_family=FONT,
    background="transparent",
    plot_background="transparent",
    foreground="var(--ink)",
    foreground_strong="var(--ink)",
    foreground_subtle="var(--rule)",
    guide_stroke_color="var(--rule)",
    major_guide_stroke_color="var(--rule)",
    colors=SERIES,
    value_colors=("var(--ink)",) * len(SERIES),  # else pygal parses each colour to pick one
    opacity="1",
    opacity_hover="1",
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=15,
    value_font_size=14,
    no_data_font_size=20,
)
SVG_NS = "{http://www.w3.org/2000/svg}"
# what every chart has unless it says otherwise: the legend under the chart, nothing cut short
DEFAULTS = {
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 3,
    "truncate_legend": -1,
    "truncate_label": -1,
    "legend_box_size": 15,  # as tall as the legend text: pygal sizes the legend row by the box
}


def _chart(kind: Callable, name: str, **config) -> pygal.graph.graph.Graph:
    chart = kind(
        style=STYLE,
        js=[],
        width=WIDTH,
        height=HEIGHT,
        no_data_text="nothing yet",
        **{**DEFAULTS, **config},
    )
    chart.uuid = name  # the SVG's id is chart-<name>
    return chart


def inline_svg(chart, label: str) -> Markup:
    """The chart as an <svg> element for an HTML page: no script, no comment, no tooltip layer;
    role=img with `label` as its accessible name."""
    root = chart.render_tree()
    for node in list(root.iter(etree.Comment, f"{SVG_NS}script", "script")):
        node.getparent().remove(node)
    for node in root.xpath(".//*[contains(concat(' ', @class, ' '), ' tooltip-overlay ')]"):
        node.getparent().remove(node)
    root.set("role", "img")
    root.set("aria-label", label)
    return Markup(etree.tostring(root, encoding="unicode"))


def _counts_axis(values: Sequence[int], ticks: int = 5) -> dict:
    """Whole-number ticks from 0 for an axis of counts (pygal would label 0.1, 0.2 ... for a
    few)."""
    top = max(values, default=0)
    if not top:
        return {}
    step = max(1, -(-top // ticks))
    return {"y_labels": list(range(0, top + step, step)), "range": (0, top + step - 1)}


def _every(count: int, labels: int = 8) -> int:
    """Show about `labels` x labels, whatever the number of points."""
    return max(1, -(-count // labels))


def deliveries_chart(hours: Sequence[str], sent: Sequence[int], delivered: Sequence[int]) -> Markup:
    chart = _chart(
        pygal.Bar,
        "deliveries",
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_every=_every(len(hours)),
        **_counts_axis([*sent, *delivered]),
    )
    chart.x_labels = list(hours)
    if hours:
        chart.add("handed over", list(sent))
        chart.add("delivered", list(delivered))
    return inline_svg(chart, "Messages handed over and delivered per hour (UTC)")


def outcomes_chart(counts: Sequence[tuple[str, int]]) -> Markup:
    chart = _chart(
        pygal.Bar,
        "outcomes",
        print_values=True,
        print_values_position="top",
        **_counts_axis([value for _, value in counts]),
    )
    chart.x_labels = [label for label, _ in counts]
    if any(value for _, value in counts):
        chart.add("recipients", [value for _, value in counts])
    return inline_svg(chart, "Bounces, complaints and unsubscribes")


def sections_chart(sections: Sequence[tuple[str, int, int, int]]) -> Markup:
    """(section, clicks, unique, scanner) in issue order; drawn top to bottom in that order."""
    rows = list(reversed(sections))  # pygal draws a horizontal bar chart's first label lowest
    chart = _chart(
        pygal.HorizontalBar,
        "sections",
        truncate_label=14,
        **_counts_axis([max(row[1:]) for row in rows]),
    )
    chart.x_labels = [row[0] for row in rows]
    if any(row[1] or row[2] or row[3] for row in rows):
        chart.add("clicks", [row[1] for row in rows])
        chart.add("unique", [row[2] for row in rows])
        chart.add("scanner", [row[3] for row in rows])
    return inline_svg(chart, "Clicks per section, in issue order")


def trend_sent_chart(dates: Sequence[str], sent: Sequence[int]) -> Markup:
    chart = _chart(
        pygal.Bar,
        "trend-sent",
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_every=_every(len(dates)),
        **_counts_axis(sent),
    )
    chart.x_labels = list(dates)
    if dates:
        chart.add("sent", list(sent))
    return inline_svg(chart, "Messages sent per issue, the last issues")


def trend_rates_chart(
    dates: Sequence[str], delivered: Sequence[float | None], clicked: Sequence[float | None]
) -> Markup:
    """Rates as percentages; the click rate on the right-hand axis (it is a few percent where the
    delivered rate is near 100)."""
    chart = _chart(
        pygal.Line,
        "trend-rates",
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_every=_every(len(dates)),
        value_formatter=lambda v: f"{v:.0f} %",
        dots_size=4,
        allow_interruptions=True,  # an issue without a rate is a gap, not a line across it
        legend_at_bottom_columns=2,
        range=(0, 100),  # delivered: the whole scale, so that 95 % does not look like a fall
        secondary_range=(0, _top_percent(clicked)),
    )
    chart.x_labels = list(dates)
    # pygal cannot scale a series without a single value: such a series is left out (a send with
    # nothing sent has no delivered rate; one without click tracking no click rate)
    if any(v is not None for v in delivered):
        chart.add("delivered rate", [_pct(v) for v in delivered])
    if any(v is not None for v in clicked):
        chart.add("click rate (right axis)", [_pct(v) for v in clicked], secondary=True)
    return inline_svg(chart, "Delivered rate and click rate per issue, the last issues")


def _top_percent(rates: Sequence[float | None]) -> float:
    """The right-hand axis' top: the highest click rate rounded up to 10 %, so that its ticks
    (one for each of the left axis' ten) are whole percents."""
    top = max((100 * r for r in rates if r is not None), default=0.0)
    return max(10.0, 10.0 * -(-top // 10))


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 2)
