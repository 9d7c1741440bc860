"""The content links of an issue and their counted form (ARCHITECTURE.md, "Clicks").

A send with click tracking numbers the content links of its stored render in document order,
1..n: every `<a href>` to an http(s) address that is not one of the mail's own pages (view in
browser, subscribe, manage, unsubscribe: anything under MAILER_BASE_URL), nor mailto: or cid:.
A link's section is the id of the nearest section heading before it (SECTION_IDS, the ids of
templates/email/newsletter.mjml.j2). The text part's links take the position of the first HTML
link with the same URL; a text URL no HTML link has stays as written.

The HTML is read with the standard library's HTML parser, and an href is found inside its start
tag with the parser's own attribute pattern, so that what is rewritten is exactly the attribute
the parser (and a mail client) reads; nothing else of the render changes.
"""

from __future__ import annotations

import html as html_lib
import html.parser
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from mailer.errors import SendError
from mailer.render.issue import RenderedIssue, split_placeholders
from mailer.tokens import ClickToken, make_click_token

# The section headings of the mail template, in its order; a link's section is the last one seen.
SECTION_IDS = frozenset(
    {
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
    }
)
_TEXT_WORD = re.compile(r"\S+")  # the text part writes a URL as a word of its own


@dataclass(frozen=True)
class ContentLink:
    position: int
    url: str  # as a browser reads the href: character references decoded
    section: str  # "" before the first section heading
    start: int  # the href value's span in the HTML source, as written there (references and all)
    end: int


def counted_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def is_countable(url: str, base_url: str) -> bool:
    """An http(s) link to somewhere else than our own pages (under `base_url`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return False
    ours = urlsplit(base_url)
    same_site = (parts.scheme.lower(), parts.netloc.lower()) == (
        ours.scheme.lower(),
        ours.netloc.lower(),
    )
    base_path = ours.path.rstrip("/")
    return not (same_site and (parts.path == base_path or parts.path.startswith(base_path + "/")))


class _LinkFinder(html.parser.HTMLParser):
    def __init__(self, source: str, base_url: str):
        super().__init__(convert_charrefs=True)
        self.source, self.base_url = source, base_url
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.section = ""
        self.links: list[ContentLink] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = next((value for name, value in attrs if name == "id"), None)
        if ident in SECTION_IDS:
            self.section = ident
        href = next((value for name, value in attrs if name == "href"), None)
        if tag != "a" or not href or not is_countable(href, self.base_url):
            return
        start, end = self._href_span()
        if html_lib.unescape(self.source[start:end]) != href:  # never rewrite what was not read
            raise ValueError(f"href {href[:80]!r} not found where the parser read it")
        position = len(self.links) + 1
        self.links.append(ContentLink(position, href, self.section, start, end))

    handle_startendtag = handle_starttag

    def _href_span(self) -> tuple[int, int]:
        """The span of the first href value of the start tag just read, in the whole source."""
        line, column = self.getpos()
        tag_start = self.line_starts[line - 1] + column
        tag = self.get_starttag_text() or ""
        if self.source[tag_start : tag_start + len(tag)] != tag:
            raise ValueError("start tag not found where the parser read it")
        # The patterns HTMLParser.parse_starttag reads the tag's name and attributes with.
        at = html.parser.tagfind_tolerant.match(tag, 1).end()
        while match := html.parser.attrfind_tolerant.match(tag, at):
            if match.group(1).lower() == "href" and match.group(3):
                start, end = match.span(3)
                if tag[start] in "'\"" and tag[end - 1] == tag[start] and end - start >= 2:
                    start, end = start + 1, end - 1
                return tag_start + start, tag_start + end
            at = match.end()
        raise ValueError("href not found in its start tag")


def content_links(source: str, base_url: str) -> tuple[ContentLink, ...]:
    """The content links of an issue's HTML (module docstring), in document order."""
    finder = _LinkFinder(source, base_url)
    finder.feed(source)
    finder.close()
    return tuple(finder.links)


def text_spans(text: str, links: Sequence[ContentLink]) -> list[tuple[int, int, int]]:
    """(start, end, position) of every URL of the text part that is a content link's."""
    first: dict[str, int] = {}
    for link in links:
        first.setdefault(link.url, link.position)
    return [
        (m.start(), m.end(), first[m.group()])
        for m in _TEXT_WORD.finditer(text)
        if m.group() in first
    ]


def rewrite(source: str, spans: Sequence[tuple[int, int, int]], value: Callable[[int], str]) -> str:
    """`source` with each span replaced by `value(position)`."""
    out, at = [], 0
    for start, end, position in spans:
        out += [source[at:start], value(position)]
        at = end
    return "".join([*out, source[at:]])


def html_spans(links: Sequence[ContentLink]) -> list[tuple[int, int, int]]:
    return [(link.start, link.end, link.position) for link in links]


def slotted(source: str, spans: Sequence[tuple[int, int, int]]) -> tuple[str, ...]:
    """split_placeholders(source) with each span a slot of its own, named `L<position>`: literals
    at even positions, slot names at odd ones."""
    parts = [""]
    at = 0
    for start, end, position in [*spans, (len(source), len(source), 0)]:
        pieces = split_placeholders(source[at:start])
        parts[-1] += pieces[0]
        parts += pieces[1:]
        if position:
            parts += [f"L{position}", ""]
        at = end
    return tuple(parts)


@dataclass(frozen=True)
class ClickRewrite:
    """How one send's messages carry its content links: counted (`{base}/r/<token>`, the token
    naming the send, the position and the second of hand-over; never the reader), or as written
    for a reader who asked for plain links."""

    secret_key: str
    base_url: str
    send_id: int
    html: str  # the stored render's HTML (placeholders and all) the links were found in
    links: tuple[ContentLink, ...]

    @classmethod
    def for_send(
        cls,
        rendered: RenderedIssue,
        base_url: str,
        secret_key: str,
        send_id: int,
        planned: Sequence[tuple[int, str]],
    ) -> ClickRewrite:
        """The send's rewrite; `planned` is its send_links rows (position, url). A SendError when
        the render's links no longer match them (MAILER_BASE_URL changed since planning)."""
        links = content_links(rendered.html, base_url)
        if [(link.position, link.url) for link in links] != sorted(planned):
            raise SendError(
                f"send {send_id}: its counted links do not match its stored render: was "
                "MAILER_BASE_URL changed since the send was planned? Set it back and rerun"
            )
        return cls(secret_key, base_url, send_id, rendered.html, links)

    def url(self, position: int, second: int) -> str:
        token = make_click_token(self.secret_key, ClickToken(self.send_id, position, second))
        return counted_url(self.base_url, token)

    def parts(self, rendered: RenderedIssue) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(HTML parts, text parts) of the render with a slot per content link (`slotted`)."""
        spans = text_spans(rendered.text, self.links)
        return slotted(self.html, html_spans(self.links)), slotted(rendered.text, spans)

    def written(self, position: int) -> tuple[str, str]:
        """(text, HTML source) of a link as the render has it: a plain-links reader's."""
        link = self.links[position - 1]
        return link.url, self.html[link.start : link.end]

    @property
    def positions(self) -> range:
        return range(1, len(self.links) + 1)
