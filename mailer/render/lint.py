"""`mailer lint`: what an operator checks before sending. Each check returns findings; errors fail
the lint.

Checks run on the rendered issue with neutral placeholder values (what every recipient gets, minus
their own links), plus the MJML source for what MRML would silently ignore.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.content.scaffold import PROMPTS
from mailer.render.click_links import content_links, counted_url, html_spans, rewrite
from mailer.render.issue import (
    PLACEHOLDERS,
    RenderedIssue,
    Sources,
    default_figures,
    neutral_values,
    render_issue,
    render_sources,
)
from mailer.render.qr import QR_CID
from mailer.tokens import ClickToken, make_click_token

CLIP_LIMIT = 102 * 1024  # Gmail clips larger HTML bodies behind "[Message clipped]"
CLIP_MARGIN = 90 * 1024
_PLACEHOLDER_RE = re.compile(r"%%[A-Za-z_]*%%")
_TEMPLATE_RE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_TODO_RE = re.compile(r"\bTODO\b")
_PROMPT_TEXTS = {text.casefold() for text in PROMPTS.values()}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_MJ_TAG_RE = re.compile(r"<(mj-[a-z-]+)((?:\s+[a-z-]+=\"[^\"]*\")*)\s*/?>")
_MJ_ATTR_RE = re.compile(r"([a-z-]+)=\"")
_COMMON = {
    "css-class",
    "mj-class",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "background-color",
    "border",
    "border-top",
    "border-bottom",
    "align",
    "color",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "line-height",
    "width",
    "height",
    "href",
    "src",
    "alt",
    "title",
    "rel",
    "target",
    "inner-border",
    "vertical-align",
    "direction",
    "text-align",
    "border-radius",
    "letter-spacing",
    "text-transform",
    "inline",
    "lang",
    "inner-padding",
    "background-url",
    "full-width",
    "container-background-color",
    "owa",
    "name",
}
_KNOWN_TAGS = {
    "mj-head",
    "mj-body",
    "mj-title",
    "mj-preview",
    "mj-attributes",
    "mj-all",
    "mj-class",
    "mj-raw",
    "mj-style",
    "mj-font",
    "mj-breakpoint",
    "mj-section",
    "mj-column",
    "mj-group",
    "mj-wrapper",
    "mj-text",
    "mj-image",
    "mj-button",
    "mj-divider",
    "mj-spacer",
    "mj-table",
    "mj-social",
    "mj-social-element",
    "mj-navbar",
    "mj-navbar-link",
    "mj-hero",
}


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    check: str
    message: str

    def line(self) -> str:
        return f"{self.level}: [{self.check}] {self.message}"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag.attr, url)
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for attr in ("href", "src", "background"):
            if found.get(attr) is not None:
                self.links.append((f"{tag}.{attr}", found[attr] or ""))
        if tag == "img":
            self.images.append(found)


def check_size(html: str) -> list[Finding]:
    size = len(html.encode("utf-8"))
    text = f"HTML is {size / 1024:.1f} KB; Gmail clips above {CLIP_LIMIT // 1024} KB"
    if size > CLIP_LIMIT:
        return [Finding("error", "size", text + ": shorten the issue")]
    if size > CLIP_MARGIN:
        return [Finding("warning", "size", text + ": little room left")]
    return []


def check_unsubscribe(rendered: RenderedIssue) -> list[Finding]:
    return [
        Finding("error", "unsubscribe", f"the {part} part has no %%UNSUBSCRIBE_URL%% link")
        for part, body in (("HTML", rendered.html), ("text", rendered.text))
        if "%%UNSUBSCRIBE_URL%%" not in body
    ]


def check_links(html: str, base_url: str = "") -> list[Finding]:
    """Every link absolute https; links to our own pages (under MAILER_BASE_URL) are judged once, by
    check_base_url."""
    collector = _Collector()
    collector.feed(html)
    ours = base_url.rstrip("/") + "/" if urlsplit(base_url).netloc else None
    findings = []
    for where, url in collector.links:
        if url.startswith(("https://", "mailto:")) or url == f"cid:{QR_CID}":
            continue
        if ours and (url + "/").startswith(ours):
            continue
        kind = "not https" if url.startswith("http://") else "relative or unsupported"
        findings.append(
            Finding(
                "error", "links", f"{where} {url[:100]!r} is {kind}: links must be absolute https"
            )
        )
    return findings


def check_images(html: str) -> list[Finding]:
    collector = _Collector()
    collector.feed(html)
    findings = []
    for image in collector.images:
        alt = (image.get("alt") or "").strip()
        decorative = image.get("role") == "presentation" or image.get("aria-hidden") == "true"
        if not alt and not decorative:
            findings.append(
                Finding(
                    "error",
                    "alt",
                    f"image {str(image.get('src'))[:80]!r} has no alt text "
                    '(decorative images need role="presentation")',
                )
            )
    return findings


def check_leftovers(rendered: RenderedIssue, html: str, text: str) -> list[Finding]:
    findings = []
    for part, raw, body in (("HTML", rendered.html, html), ("text", rendered.text, text)):
        unknown = sorted(set(_PLACEHOLDER_RE.findall(raw)) - {f"%%{p}%%" for p in PLACEHOLDERS})
        unknown += sorted(set(_PLACEHOLDER_RE.findall(body)) - set(unknown))
        if unknown:
            findings.append(
                Finding(
                    "error", "placeholders", f"{part} part has unresolved placeholder(s) {unknown}"
                )
            )
        if _TEMPLATE_RE.search(body):
            snippet = body[max(0, _TEMPLATE_RE.search(body).start() - 30) :][:70]
            findings.append(
                Finding("error", "template", f"{part} part has template syntax left: {snippet!r}")
            )
    return findings


def check_sections(issue: IssueContent) -> list[Finding]:
    """A heading with nothing under it, in a section the editor writes. The computed sections
    (figures, trending, movers) are left out of the mail when empty: check_left_out warns about
    those."""
    sections = [
        (issue.headline, issue.lead),
        (issue.deep_dive.title, issue.deep_dive.paragraphs),
        (issue.opinion_heading, issue.opinions),
        (issue.tools.title, issue.tool_items),
        (issue.reading.title, issue.reading_items),
    ]
    sections += [(op.title, op.paragraphs) for op in issue.opinions]
    return [
        Finding("error", "empty-section", f"section {title!r} has a heading and nothing under it")
        for title, body in sections
        if title and not body
    ]


def check_base_url(base_url: str, local_outbox: bool) -> list[Finding]:
    """The archive, subscribe, unsubscribe and manage links of every message start with
    MAILER_BASE_URL:
    readers can open them only when it is public https. For the local outbox (file transport) that
    does not matter yet: a warning."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not host:
        problem = "is not an absolute URL"
    elif host in LOCAL_HOSTS or host.endswith(".localhost"):
        problem = "points to this machine, which no reader can open"
    elif parts.scheme != "https":
        problem = "is not https (mailbox providers and browsers flag plain http links)"
    else:
        return []
    fix = (
        "set MAILER_BASE_URL to the public https URL of the web app (e.g. https://news.example.com)"
    )
    if local_outbox:
        return [
            Finding(
                "warning",
                "base-url",
                f"MAILER_BASE_URL {base_url!r} {problem}; fine for the local "
                f"outbox, but before a real send {fix}",
            )
        ]
    return [Finding("error", "base-url", f"MAILER_BASE_URL {base_url!r} {problem}: {fix}")]


# A counted link's token at its longest (a send id and a second of 32 bits): what lint sizes with.
_SAMPLE_SEND, _SAMPLE_SECOND = 2**31 - 1, 2**32 - 1


def counted_html(html: str, base_url: str) -> str:
    """The HTML as a send with click tracking writes it: each content link a counted redirect
    (render/click_links.py), with tokens as long as they get. No key is needed to size them."""
    links = content_links(html, base_url)

    def counted(position: int) -> str:
        token = make_click_token("lint", ClickToken(_SAMPLE_SEND, position, _SAMPLE_SECOND))
        return html_lib.escape(counted_url(base_url, token))

    return rewrite(html, html_spans(links), counted)


def check_clicks(base_url: str, local_outbox: bool) -> list[Finding]:
    """[analytics] clicks sends every content link through MAILER_BASE_URL/r/: a base URL readers
    cannot open over https breaks all of them, not only our own pages."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    public = host and host not in LOCAL_HOSTS and not host.endswith(".localhost")
    if local_outbox or (parts.scheme == "https" and public):
        return []
    return [
        Finding(
            "error",
            "clicks",
            f"[analytics] clicks = true sends every content link through {base_url!r}/r/, which "
            "readers cannot open over https: set MAILER_BASE_URL to the public https URL of the "
            "web app, or set clicks = false in the list file (or send with --no-click-tracking)",
        )
    ]


def check_subject(issue: IssueContent) -> list[Finding]:
    if issue.subject.strip():
        return []
    return [Finding("error", "subject", "the subject is empty: set `subject:` in the front matter")]


def _editorial_texts(issue: IssueContent) -> list[tuple[str, str]]:
    """(what, text) of everything the editor writes fresh for each issue (the scaffold's
    prompts)."""
    texts = [
        ("subject", issue.subject),
        ("preheader", issue.preheader),
        ("headline", issue.headline),
        ("summary", issue.dek),
        *(("lead", p) for p in issue.lead),
        ("deep dive title", issue.deep_dive.title),
        *(("deep dive", p) for p in issue.deep_dive.paragraphs),
    ]
    for opinion in issue.opinions:
        texts += [("opinion title", opinion.title), *(("opinion", p) for p in opinion.paragraphs)]
    for item in (*issue.tool_items, *issue.reading_items):
        texts += [("item", item.title), ("item", item.text)]
    return texts


def _line_of(source_lines: list[str], text: str) -> int | None:
    probe = text.strip().splitlines()[0][:60] if text.strip() else ""
    for number, line in enumerate(source_lines, 1):
        if probe and probe in line:
            return number
    return None


def check_scaffold(issue: IssueContent) -> list[Finding]:
    """What `mailer issue new` asks the editor to write, still there: a "TODO", or a prompt's text
    kept after its "TODO:" was deleted."""
    try:
        source_lines = (
            Path(issue.path).read_text(encoding="utf-8").splitlines() if issue.path else []
        )
    except OSError:
        source_lines = []
    findings, seen = [], set()
    for what, text in _editorial_texts(issue):
        bare = text.strip().removeprefix("TODO:").strip().casefold()
        if not (_TODO_RE.search(text) or bare in _PROMPT_TEXTS) or text in seen:
            continue
        seen.add(text)
        line = _line_of(source_lines, text)
        where = f"line {line}: " if line else ""
        findings.append(
            Finding(
                "error",
                "scaffold",
                f"{where}{what} {text.strip()[:70]!r} is a prompt left from "
                "`mailer issue new`: write it or delete it",
            )
        )
    return findings


def check_left_out(issue: IssueContent) -> list[Finding]:
    """Computed sections with no data: the mail leaves them out (no "0 models", no "none yet" note),
    so the operator hears about it here; usually `mailer trending fetch` has not run, or found
    nothing."""
    empty = []
    if not (issue.figures or default_figures(issue)):
        empty.append(issue.metrics.title)
    if not issue.hf_models and not issue.github_repos:
        empty.append(issue.trending.title)
    else:
        empty += [
            title
            for title, items in (
                (issue.hf_heading, issue.hf_models),
                (issue.github_heading, issue.github_repos),
            )
            if not items
        ]
    if not issue.mover_items:
        empty.append(issue.movers.title)
    return [
        Finding("warning", "left-out", f"section {title!r} has no data and is left out of the mail")
        for title in empty
    ]


def check_mjml(source: str) -> list[Finding]:
    """MRML ignores what it does not know; mjml's strict validation would reject it."""
    findings = []
    for match in _MJ_TAG_RE.finditer(source):
        tag, attrs = match.group(1), match.group(2)
        if tag not in _KNOWN_TAGS:
            findings.append(Finding("error", "mjml", f"unknown element <{tag}>"))
            continue
        for attr in _MJ_ATTR_RE.findall(attrs):
            if attr not in _COMMON:
                findings.append(Finding("error", "mjml", f"<{tag}> has unknown attribute {attr!r}"))
    return findings


def lint(
    issue: IssueContent,
    list_def: ListDefinition,
    base_url: str,
    sources: Sources,
    rendered: RenderedIssue,
    local_outbox: bool = False,
) -> list[Finding]:
    """`local_outbox`: the messages go to the file transport's outbox only (a local base URL is
    fine). With [analytics] clicks, the size is that of the HTML with counted links (what goes
    out); the links are checked as written (where the redirects lead)."""
    html, text = rendered.personalize(neutral_values(base_url, list_def.slug))
    clicks = list_def.analytics.clicks
    return [
        *check_subject(issue),
        *check_scaffold(issue),
        *check_base_url(base_url, local_outbox),
        *(check_clicks(base_url, local_outbox) if clicks else []),
        *check_size(counted_html(html, base_url) if clicks else html),
        *check_unsubscribe(rendered),
        *check_links(html, base_url),
        *check_images(html),
        *check_leftovers(rendered, html, text),
        *check_sections(issue),
        *check_left_out(issue),
        *check_mjml(sources.mjml),
    ]


def lint_issue(settings: Settings, list_def: ListDefinition, issue: IssueContent) -> list[Finding]:
    """The lint of an issue as the configured transport would send it (`mailer lint`, the send
    gate)."""
    sources = render_sources(issue, list_def, settings.base_url)
    rendered = render_issue(issue, list_def, settings.base_url, strict=False)
    return lint(
        issue,
        list_def,
        settings.base_url,
        sources,
        rendered,
        local_outbox=settings.transport == "file",
    )


def error_count(findings: list[Finding]) -> int:
    """How many findings are errors (what stops `mailer lint` and a send); the rest are warnings."""
    return sum(finding.level == "error" for finding in findings)
