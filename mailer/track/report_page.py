"""`mailer report --html`: one self-contained page about an issue's send (ARCHITECTURE.md,
"Clicks"): deliveries over time, bounces and complaints, clicks per section and the top links, and
the last issues' trend. Inline SVG (track/charts.py) and inline CSS; the page's
Content-Security-Policy allows nothing to be fetched, so a chart that ever referred to something
outside would show as broken here rather than call out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.render.issue import templates_dir
from mailer.store.db import transaction
from mailer.store.models import Issue, Send, utcnow
from mailer.track import charts
from mailer.track.clicks import ClickReport, LinkStat, build_click_report, unique_clickers
from mailer.track.history import HourCounts, TrendPoint, deliveries_per_hour, trend
from mailer.track.report import SendReport, build_report, find_send

TOP_LINKS = 10


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read in one transaction."""

    list_name: str
    issue_date: dt.date
    subject: str
    report: SendReport
    clicks: ClickReport
    clickers: int
    hours: list[HourCounts]
    trend: list[TrendPoint]
    made_at: dt.datetime

    def top_links(self, count: int = TOP_LINKS) -> list[LinkStat]:
        ranked = sorted(self.clicks.links, key=lambda link: (-link.clicks, link.position))
        return ranked[:count]


def read_report_data(
    session: Session, send: Send, list_name: str, issue_date: dt.date
) -> ReportData:
    subject = session.scalar(select(Issue.subject).where(Issue.id == send.issue_id)) or ""
    return ReportData(
        list_name=list_name,
        issue_date=issue_date,
        subject=subject,
        report=build_report(session, send),
        clicks=build_click_report(session, send),
        clickers=unique_clickers(session, [send.id]).get(send.id, 0),
        hours=deliveries_per_hour(session, send.id),
        trend=trend(session, send),
        made_at=utcnow(),
    )


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f} %"


def _href(url: str) -> str | None:
    """A link the page may make clickable: http(s) only (a stored URL is shown, never run)."""
    return url if urlsplit(url).scheme in ("http", "https") else None


def _charts(data: ReportData) -> dict:
    report = data.report
    return {
        "deliveries": charts.deliveries_chart(
            [h.hour.strftime("%m-%d %H:00") for h in data.hours],
            [h.sent for h in data.hours],
            [h.delivered for h in data.hours],
        ),
        "outcomes": charts.outcomes_chart(
            [
                ("hard bounce", report.bounced_hard),
                ("soft bounce", report.bounced_soft),
                ("complaint", report.complained),
                ("unsubscribe", report.unsubscribed),
            ]
        ),
        "sections": charts.sections_chart(
            [(_section(s.section), s.clicks, s.unique, s.scanner) for s in data.clicks.sections]
        ),
        "trend_sent": charts.trend_sent_chart(
            [p.issue_date.strftime("%m-%d") for p in data.trend], [p.sent for p in data.trend]
        ),
        "trend_rates": charts.trend_rates_chart(
            [p.issue_date.strftime("%m-%d") for p in data.trend],
            [p.delivered_rate for p in data.trend],
            [p.click_rate for p in data.trend],
        ),
    }


def _section(section: str) -> str:
    return section or "(top)"


def render_report_page(data: ReportData) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(pct=_pct, href=_href, section=_section)
    reach = data.report.delivered or data.report.sent
    return env.get_template("report.html.j2").render(
        data=data,
        r=data.report,
        charts=_charts(data),
        top=data.top_links(),
        click_rate=data.clickers / reach if data.clicks.tracked and reach else None,
        reader_clicks=sum(link.clicks for link in data.clicks.links),
        scanner_clicks=sum(link.scanner for link in data.clicks.links),
    )


def report_page(
    factory: sessionmaker[Session], list_slug: str, list_name: str, issue_date: dt.date
) -> str:
    """`mailer report --html`: the page of the send of (list, date), as HTML text."""
    with transaction(factory) as session:
        data = read_report_data(
            session, find_send(session, list_slug, issue_date), list_name, issue_date
        )
    return render_report_page(data)
