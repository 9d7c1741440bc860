"""Reading a send with click tracking back from its messages, independently of how it was written:
each message parsed by two MIME parsers (Python's email package with policy=default, and with
compat32, whose payload decoding is the older, separate code path), its links read with lxml, each
counted link's token decoded with read_click_token and mapped to its send_links row. The messages
must then be the untracked render, personalised for their reader, with only the links changed."""

from __future__ import annotations

import dataclasses
import email
import re
from dataclasses import dataclass
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import lxml.html
from sqlalchemy import select

from mailer.content.lists import AnalyticsSettings, ListDefinition
from mailer.content.model import Item, TrendingModel
from mailer.render.issue import RenderedIssue
from mailer.send.message import Recipient, personal_values
from mailer.store.models import Issue, Send, SendLink
from mailer.tokens import ClickToken, read_click_token
from tests.conftest import SECRET

SECTIONS = (
    "headline",
    "metrics",
    "deep-dive",
    "opinion",
    "tools",
    "trending",
    "huggingface",
    "github",
    "movers",
    "reading",
    "join",
)


def counting(list_def: ListDefinition) -> ListDefinition:
    return dataclasses.replace(list_def, analytics=AnalyticsSettings(clicks=True))


def with_hostile_links(content):
    """The issue with links of every awkward shape: query strings with & = and ', a URL longer than
    any line, a fragment, percent-escapes, a URL twice (two positions, one in the text part), a
    link to our own site (not counted), Hugging Face models in their own section."""
    tools = (
        Item("Query", "ampersands and quotes", "https://tools.example/a?x=1&y=2&name=o'brien"),
        Item("Long", "a URL longer than a line", "https://tools.example/" + "long-" * 70 + "end"),
        Item("Equals", "ends in =", "https://tools.example/q?token=abc=="),
        Item("Fragment", "with a fragment", "https://tools.example/doc#part-2"),
    )
    reading = (
        Item("Escaped", "percent escapes", "https://reading.example/%E2%9C%93/caf%C3%A9"),
        Item("Twice", "the same URL again", content.github_repos[0].url),
        Item("Ours", "an archive page of our own", "https://news.example/archive/x/2026-11-19"),
    )
    models = (
        TrendingModel("meta-llama/Llama-3.1-8B", "text-generation"),
        TrendingModel("org/model_with.dots-and_underscores", ""),
    )
    return dataclasses.replace(
        content,
        tool_items=tools,
        reading_items=reading,
        hf_models=models,
        github_repos=content.github_repos,
    )


@dataclass(frozen=True)
class Read:
    """One message as a reader's client shows it."""

    raw: bytes
    to: str
    name: str
    second: int  # its Date, as a Unix second
    text: str
    html: str
    unsubscribe_url: str


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n")


def read(raw: bytes) -> Read:
    """Parsed by both parsers, which must agree on every part."""
    modern = email.message_from_bytes(raw, policy=default_policy)
    legacy = email.message_from_bytes(raw, policy=compat32)
    assert not modern.defects and not legacy.defects
    text = _normal(modern.get_body(("plain",)).get_content())
    html = _normal(modern.get_body(("html",)).get_content())
    legacy_parts = {
        part.get_content_type(): _normal(part.get_payload(decode=True).decode("utf-8"))
        for part in legacy.walk()
        if part.get_content_maintype() == "text"
    }
    assert legacy_parts == {"text/plain": text, "text/html": html}
    address = modern["To"].addresses[0]
    unsubscribe = modern["List-Unsubscribe"].split(",")[0].strip(" <>")
    second = int(parsedate_to_datetime(modern["Date"]).timestamp())
    return Read(raw, address.addr_spec, address.display_name, second, text, html, unsubscribe)


def check_lines(raw: bytes) -> None:
    """CRLF only; RFC 5322's 998 characters for every line, and quoted-printable's 76 for every
    line of the body that is not a part's header (base64 and boundaries included)."""
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    body = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body if not line.startswith(b"Content-")) <= 76


def own(url: str, base_url: str) -> bool:
    return url == base_url or url.startswith(base_url + "/")


def written_links(html: str, base_url: str) -> list[tuple[str, str]]:
    """(url, section) of each content link, read with lxml: <a href> to http(s) elsewhere than
    our own site, in document order; the section is the last section id before the link."""
    tree = lxml.html.fromstring(html)
    ids = " or ".join(f"@id='{name}'" for name in SECTIONS)
    links = []
    for anchor in tree.iter("a"):
        href = anchor.get("href") or ""
        if urlsplit(href).scheme not in ("http", "https") or own(href, base_url):
            continue
        before = anchor.xpath(f"(preceding::*[{ids}])[last()]")
        links.append((href, before[0].get("id") if before else ""))
    return links


def hrefs(html: str) -> list[str]:
    return [a.get("href") for a in lxml.html.fromstring(html).iter("a") if a.get("href")]


def counted_re(base_url: str) -> re.Pattern[str]:
    return re.compile(re.escape(base_url) + r"/r/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class SendRecord:
    send_id: int
    click_tracking: bool
    links: dict[int, tuple[str, str]]  # position -> (url, section)
    rendered: RenderedIssue


def send_record(factory, list_slug: str, issue_date) -> SendRecord:
    from mailer.store.models import MailingList

    with factory() as session:
        issue = session.scalar(
            select(Issue)
            .join(MailingList, MailingList.id == Issue.list_id)
            .where(MailingList.slug == list_slug, Issue.issue_date == issue_date)
        )
        send = session.scalar(select(Send).where(Send.issue_id == issue.id))
        rows = session.scalars(select(SendLink).where(SendLink.send_id == send.id)).all()
        rendered = RenderedIssue(issue.subject, "", issue.html, issue.text)
        return SendRecord(
            send.id,
            send.click_tracking,
            {row.position: (row.url, row.section) for row in rows},
            rendered,
        )


def expected(record: SendRecord, message: Read, base_url: str) -> tuple[str, str]:
    """(HTML, text) of the untracked render, personalised as this message is."""
    manage = re.search(re.escape(base_url) + r"/manage/\S+", message.text).group()
    recipient = Recipient(0, message.to, message.name, message.unsubscribe_url, manage, "", "")
    html, text = record.rendered.personalize(personal_values(recipient))
    return _normal(html).rstrip("\n"), _normal(text).rstrip("\n")


def decode(token: str) -> ClickToken:
    return read_click_token(SECRET, token)


def check_counted(record: SendRecord, message: Read, base_url: str) -> list[str]:
    """A message with counted links: every one decodes to this send, the message's second and a
    position whose send_links row is exactly the render's link there; mapped back, the message is
    the untracked render. Its tokens, in order."""
    check_lines(message.raw)
    want_html, want_text = expected(record, message, base_url)
    originals = written_links(want_html, base_url)
    assert [record.links[p] for p in sorted(record.links)] == originals
    assert sorted(record.links) == list(range(1, len(originals) + 1))
    pattern = counted_re(base_url)
    counted = [h for h in hrefs(message.html) if h.startswith(f"{base_url}/r/")]
    tokens = [pattern.fullmatch(h).group(1) for h in counted]
    clicks = [decode(t) for t in tokens]
    assert [c.position for c in clicks] == list(range(1, len(originals) + 1))
    assert {(c.send_id, c.handed_over) for c in clicks} == {(record.send_id, message.second)}
    assert len(tokens[0]) < 32  # short: one per content link in every mail
    # The HTML mapped back (each counted href replaced by its send_links url) is the render's.
    tree = lxml.html.fromstring(message.html)
    for anchor in tree.iter("a"):
        match = pattern.fullmatch(anchor.get("href") or "")
        if match:
            anchor.set("href", record.links[decode(match.group(1)).position][0])
    assert lxml.html.tostring(tree) == lxml.html.tostring(lxml.html.fromstring(want_html))
    # The text part likewise, as a string: nothing but its URLs changed.
    text_tokens = pattern.findall(message.text)
    assert text_tokens and all(decode(t).handed_over == message.second for t in text_tokens)
    mapped = pattern.sub(lambda m: record.links[decode(m.group(1)).position][0], message.text)
    assert mapped.rstrip("\n") == want_text
    return tokens


def check_written(record: SendRecord, message: Read, base_url: str) -> None:
    """A message with the links as written: exactly the untracked render, no counted link."""
    check_lines(message.raw)
    want_html, want_text = expected(record, message, base_url)
    assert f"{base_url}/r/" not in message.html and f"{base_url}/r/" not in message.text
    assert message.html.rstrip("\n") == want_html and message.text.rstrip("\n") == want_text
