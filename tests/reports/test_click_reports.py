"""The click reads (track/clicks.py, track/history.py) and `mailer report --links [--json]` as an
operator runs it (a subprocess), on sends whose counts were written straight into the tables
(tests.reports.clicks_data.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import update

from mailer.store.db import transaction
from mailer.store.models import Send
from mailer.track.clicks import (
    LinkStat,
    SectionStat,
    link_report,
    section_report,
    unique_clickers,
    url_click_rates,
)
from mailer.track.history import HourCounts, deliveries_per_hour, trend
from tests.cli.test_cli import mailer
from tests.reports.clicks_data import (
    DAY,
    EXPECTED_LINKS,
    EXPECTED_SECTIONS,
    H6,
    LINKS,
    UNIQUE_CLICKERS,
    add_clicks,
    add_links,
    add_visitors,
    deliver,
    scenario,
    tracked_send,
)


def run(workdir, database_url, *args):
    return mailer(workdir, *args, env={"DATABASE_URL": database_url})


def test_links_and_sections_in_issue_order_with_exact_counts(factory, settings, sample_list):
    send_id = scenario(factory, settings)
    with transaction(factory) as session:
        links = link_report(session, send_id)
        sections = section_report(session, send_id)
        clickers = unique_clickers(session, [send_id])
    assert links == [
        LinkStat(position, url, section, clicks, unique, scanner)
        for (url, section), (position, clicks, unique, scanner) in zip(
            LINKS, EXPECTED_LINKS, strict=True
        )
    ]
    assert sections == [SectionStat(*row) for row in EXPECTED_SECTIONS]
    # headline: its links' uniques add up to 4, but v1 on day 0 opened both: 3 readers
    assert sum(link.unique for link in links if link.section == "headline") == 4
    assert clickers == {send_id: UNIQUE_CLICKERS}


def test_links_table_and_json_through_the_cli(
    workdir, database_url, factory, settings, sample_list
):
    send_id = scenario(factory, settings)
    table = run(workdir, database_url, "report", "--issue", str(DAY), "--links")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"The AI Morning Post {DAY}"
    assert lines[1].startswith(f"send #{send_id}: clicks per link")
    assert lines[2].split() == ["#", "section", "clicks", "unique", "scanner", "url"]
    rows = [line.split() for line in lines[3:11]]
    assert rows == [
        [str(p), section, str(c), str(u), str(s), url]
        for (url, section), (p, c, u, s) in zip(LINKS, EXPECTED_LINKS, strict=True)
    ]
    assert lines[11:14] == ["", "per section, in issue order", lines[13]]
    assert lines[13].split() == ["section", "links", "clicks", "unique", "scanner"]
    assert [line.split() for line in lines[14:]] == [
        [name, str(n), str(c), str(u), str(s)] for name, c, u, s, n in EXPECTED_SECTIONS
    ]

    as_json = run(workdir, database_url, "report", "--issue", str(DAY), "--links", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "links": [
            {"url": url, "section": section, "clicks": c, "unique": u, "scanner": s}
            for (url, section), (_p, c, u, s) in zip(LINKS, EXPECTED_LINKS, strict=True)
        ],
        "sections": [
            {"section": name, "clicks": c, "unique": u, "scanner": s, "links": n}
            for name, c, u, s, n in EXPECTED_SECTIONS
        ],
    }
    assert as_json.stderr == ""

    # --json alone is still the delivery report, unchanged
    report = json.loads(run(workdir, database_url, "report", "--issue", str(DAY), "--json").stdout)
    assert (report["planned"], report["sent"], report["delivered"], report["failed"]) == (
        21,
        20,
        15,
        1,
    )
    assert (report["bounced_hard"], report["bounced_soft"], report["complained"]) == (1, 1, 1)
    assert "links" not in report


def test_a_send_without_click_tracking_says_so_in_one_line(
    workdir, database_url, factory, settings, sample_list
):
    send_id = tracked_send(factory, settings, DAY, tracked=False)
    text = run(workdir, database_url, "report", "--issue", str(DAY), "--links")
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("\n") == 1
    assert text.stdout.startswith(
        f"The AI Morning Post {DAY}: send #{send_id} went out without click tracking"
    )
    as_json = run(workdir, database_url, "report", "--issue", str(DAY), "--links", "--json")
    assert json.loads(as_json.stdout) == {"links": [], "sections": []}
    assert as_json.stderr.count("\n") == 1 and "without click tracking" in as_json.stderr


def test_a_tracked_send_without_clicks_lists_its_links_at_zero(
    workdir, database_url, factory, settings, sample_list
):
    send_id = tracked_send(factory, settings, DAY)
    add_links(factory, send_id, LINKS[:2])
    data = json.loads(
        run(workdir, database_url, "report", "--issue", str(DAY), "--links", "--json").stdout
    )
    assert data == {
        "links": [
            {"url": url, "section": "headline", "clicks": 0, "unique": 0, "scanner": 0}
            for url, _ in LINKS[:2]
        ],
        "sections": [{"section": "headline", "clicks": 0, "unique": 0, "scanner": 0, "links": 2}],
    }


def test_options_that_do_not_combine_and_a_missing_send_are_one_line(workdir, database_url, engine):
    both = run(workdir, database_url, "report", "--issue", str(DAY), "--html", "r.html", "--json")
    assert both.returncode == 2
    assert "--html writes a page; leave out --json and --links with it" in both.stderr
    missing = run(workdir, database_url, "report", "--issue", str(DAY), "--links")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert f"no send of the {DAY} issue yet" in missing.stderr


def test_deliveries_per_hour_from_the_ledger_and_the_first_delivery_event(
    factory, settings, sample_list
):
    send_id = scenario(factory, settings)
    with transaction(factory) as session:
        hours = deliveries_per_hour(session, send_id)
    hour = dt.timedelta(hours=1)
    assert hours == [
        HourCounts(H6, 12, 10),
        HourCounts(H6 + hour, 8, 0),
        HourCounts(H6 + 2 * hour, 0, 5),  # the second Delivery event of a row (09h) is not one
    ]


def test_the_trend_of_the_last_issues_up_to_this_one(factory, settings, sample_list):
    days = [DAY - dt.timedelta(days=n) for n in (3, 2, 1)]
    earlier = tracked_send(factory, settings, days[0])  # tracked, no Delivery event: reach = sent
    deliver(factory, earlier, sent_hours=[0] * 10, delivered_hours=[])
    add_links(factory, earlier, LINKS[:1])
    add_visitors(factory, earlier, {1: [(days[0], "a"), (days[0], "b")]})
    untracked = tracked_send(factory, settings, days[1], tracked=False)
    deliver(factory, untracked, sent_hours=[0] * 4, delivered_hours=[0, 0])
    tracked_send(factory, settings, days[2])  # planned and started, nothing handed over yet
    this = scenario(factory, settings)
    later = tracked_send(factory, settings, DAY + dt.timedelta(days=1))
    deliver(factory, later, sent_hours=[0], delivered_hours=[0])
    with transaction(factory) as session:
        send = session.get(Send, this)
        points = trend(session, send)
        last_two = trend(session, send, count=2)
    assert [(p.issue_date, p.sent, p.delivered) for p in points] == [
        (days[0], 10, 0),
        (days[1], 4, 2),
        (days[2], 0, 0),
        (DAY, 20, 15),
    ]
    assert [p.delivered_rate for p in points] == [0.0, 0.5, None, 0.75]
    assert [p.click_rate for p in points] == [2 / 10, None, None, UNIQUE_CLICKERS / 15]
    assert [p.issue_date for p in last_two] == [days[2], DAY]


def test_url_click_rates_over_the_four_weeks_before_an_issue(factory, settings, sample_list):
    new_day = DAY + dt.timedelta(days=7)
    this = scenario(factory, settings)  # 15 delivered
    # a week earlier, no Delivery events (reach = 10 sent); one URL shared with the scenario
    week = tracked_send(factory, settings, DAY - dt.timedelta(days=7))
    deliver(factory, week, sent_hours=[0] * 10, delivered_hours=[])
    add_links(factory, week, [LINKS[5], ("https://once.example/", "tools")])
    add_clicks(factory, week, {1: [(0, 5, 9)], 2: [(0, 1, 0)]})
    # outside the window, untracked, or after the new issue: never counted
    for day, tracked in (
        (new_day - dt.timedelta(days=29), True),
        (DAY - dt.timedelta(days=1), False),
        (new_day, True),
    ):
        other = tracked_send(factory, settings, day, tracked=tracked)
        deliver(factory, other, sent_hours=[0] * 5, delivered_hours=[0] * 5)
        add_links(factory, other, [LINKS[5]])
        add_clicks(factory, other, {1: [(0, 100, 0)]})
    rates = url_click_rates(factory, "ai-morning-post", new_day)
    assert rates == {
        "https://example.org/lead": (3 + 1) / 15,  # positions 1 and 8 of one send: its reach once
        "https://example.org/lead-2": 1 / 15,
        "https://tools.example/a?x=1&y=2": 5 / 15,
        "https://huggingface.co/a/alpha": 0.0,  # seen, never clicked: 0, not absent
        "https://huggingface.co/b/beta": 2 / 15,
        "https://github.com/o/big": (7 + 5) / (15 + 10),  # scanner clicks never count
        "https://essays.example/r": 0.0,
        "https://once.example/": 1 / 10,
    }
    assert url_click_rates(factory, "ai-morning-post", DAY - dt.timedelta(days=30)) == {}
    assert url_click_rates(factory, "another-list", new_day) == {}
    with transaction(factory) as session:  # a send that stops tracking drops out
        session.execute(update(Send).where(Send.id == this).values(click_tracking=False))
    assert set(url_click_rates(factory, "ai-morning-post", new_day)) == {
        "https://github.com/o/big",
        "https://once.example/",
    }
