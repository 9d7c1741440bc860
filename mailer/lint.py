"""`mailer lint`: what an operator checks before sending. Each check returns findings; errors fail the lint.

Checks run on the rendered issue with neutral placeholder values (what every recipient gets, minus
their own links), plus the MJML source for what MRML would silently ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from .content.lists import ListDefinition
from .content.model import IssueContent
from .qr import QR_CID
from .render import PLACEHOLDERS, RenderedIssue, Sources, default_figures, neutral_values

CLIP_LIMIT = 102 * 1024  # Gmail clips larger HTML bodies behind "[Message clipped]"
CLIP_MARGIN = 90 * 1024
_PLACEHOLDER_RE = re.compile(r"%%[A-Za-z_]*%%")
_TEMPLATE_RE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_MJ_TAG_RE = re.compile(r"<(mj-[a-z-]+)((?:\s+[a-z-]+=\"[^\"]*\")*)\s*/?>")
_MJ_ATTR_RE = re.compile(r"([a-z-]+)=\"")
_COMMON = {"css-class", "mj-class", "padding", "padding-top", "padding-bottom", "padding-left",
           "padding-right", "background-color", "border", "border-top", "border-bottom", "align",
           "color", "font-family", "font-size", "font-weight", "font-style", "line-height", "width",
           "height", "href", "src", "alt", "title", "rel", "target", "inner-border", "vertical-align",
           "direction", "text-align", "border-radius", "letter-spacing", "text-transform", "inline", "lang",
           "inner-padding", "background-url", "full-width", "container-background-color", "owa", "name"}
_KNOWN_TAGS = {"mj-head", "mj-body", "mj-title", "mj-preview", "mj-attributes", "mj-all", "mj-class",
               "mj-raw", "mj-style", "mj-font", "mj-breakpoint", "mj-section", "mj-column", "mj-group",
               "mj-wrapper", "mj-text", "mj-image", "mj-button", "mj-divider", "mj-spacer", "mj-table",
               "mj-social", "mj-social-element", "mj-navbar", "mj-navbar-link", "mj-hero"}


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
    return [Finding("error", "unsubscribe", f"the {part} part has no %%UNSUBSCRIBE_URL%% link")
            for part, body in (("HTML", rendered.html), ("text", rendered.text)) if "%%UNSUBSCRIBE_URL%%" not in body]


def check_links(html: str) -> list[Finding]:
    collector = _Collector()
    collector.feed(html)
    findings = []
    for where, url in collector.links:
        if url.startswith(("https://", "mailto:")) or url == f"cid:{QR_CID}":
            continue
        kind = "not https" if url.startswith("http://") else "relative or unsupported"
        findings.append(Finding("error", "links", f"{where} {url[:100]!r} is {kind}: links must be absolute https"))
    return findings


def check_images(html: str) -> list[Finding]:
    collector = _Collector()
    collector.feed(html)
    findings = []
    for image in collector.images:
        alt = (image.get("alt") or "").strip()
        decorative = image.get("role") == "presentation" or image.get("aria-hidden") == "true"
        if not alt and not decorative:
            findings.append(Finding("error", "alt", f"image {str(image.get('src'))[:80]!r} has no alt text "
                                    "(decorative images need role=\"presentation\")"))
    return findings


def check_leftovers(rendered: RenderedIssue, html: str, text: str) -> list[Finding]:
    findings = []
    for part, raw, body in (("HTML", rendered.html, html), ("text", rendered.text, text)):
        unknown = sorted(set(_PLACEHOLDER_RE.findall(raw)) - {f"%%{p}%%" for p in PLACEHOLDERS})
        unknown += sorted(set(_PLACEHOLDER_RE.findall(body)) - set(unknown))
        if unknown:
            findings.append(Finding("error", "placeholders", f"{part} part has unresolved placeholder(s) {unknown}"))
        if _TEMPLATE_RE.search(body):
            snippet = body[max(0, _TEMPLATE_RE.search(body).start() - 30):][:70]
            findings.append(Finding("error", "template", f"{part} part has template syntax left: {snippet!r}"))
    return findings


def check_sections(issue: IssueContent) -> list[Finding]:
    """A heading with nothing under it, in a section the editor writes. The computed sections (figures,
    trending, movers) are left out of the mail when empty: check_left_out warns about those."""
    sections = [(issue.headline, issue.lead), (issue.deep_dive.title, issue.deep_dive.paragraphs),
                (issue.opinion_heading, issue.opinions), (issue.tools.title, issue.tool_items),
                (issue.reading.title, issue.reading_items)]
    sections += [(op.title, op.paragraphs) for op in issue.opinions]
    return [Finding("error", "empty-section", f"section {title!r} has a heading and nothing under it")
            for title, body in sections if title and not body]


def check_left_out(issue: IssueContent) -> list[Finding]:
    """Computed sections with no data: the mail leaves them out (no "0 models", no "none yet" note), so
    the operator hears about it here; usually `mailer trending fetch` has not run, or found nothing."""
    empty = []
    if not (issue.figures or default_figures(issue)):
        empty.append(issue.metrics.title)
    if not issue.hf_models and not issue.github_repos:
        empty.append(issue.trending.title)
    else:
        empty += [title for title, items in ((issue.hf_heading, issue.hf_models),
                                              (issue.github_heading, issue.github_repos)) if not items]
    if not issue.mover_items:
        empty.append(issue.movers.title)
    return [Finding("warning", "left-out", f"section {title!r} has no data and is left out of the mail")
            for title in empty]


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


def lint(issue: IssueContent, list_def: ListDefinition, base_url: str, sources: Sources,
         rendered: RenderedIssue) -> list[Finding]:
    html, text = rendered.personalize(neutral_values(base_url, list_def.slug))
    return [*check_size(html), *check_unsubscribe(rendered), *check_links(html), *check_images(html),
            *check_leftovers(rendered, html, text), *check_sections(issue), *check_left_out(issue),
            *check_mjml(sources.mjml)]
