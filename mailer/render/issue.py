"""Render an issue once: Jinja2 (autoescaped) -> MJML -> HTML (mjml-python) -> inlined CSS, plus
text.

Per-recipient values are %%NAME%% placeholders left in the output and substituted afterwards by
`RenderedIssue.personalize`, which only joins pre-split string parts: no template runs per
recipient.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
import mjml
from premailer import Premailer

from mailer.content.lists import ListDefinition
from mailer.content.model import Figure, IssueContent
from mailer.errors import ContentError
from mailer.render.qr import QR_CID, with_data_uris

PLACEHOLDERS = ("GREETING", "UNSUBSCRIBE_URL", "MANAGE_URL")
# After the preheader: zero-width non-joiners and no-break spaces, so that inbox previews show
# blanks
# rather than the start of the body ("View in browser ..."). U+034F is ignored by clients that fold
# spaces.
PREHEADER_PADDING = "\u034f\u200c\u00a0" * 90
_PLACEHOLDER_RE = re.compile(r"%%([A-Z_]+)%%")


def templates_dir() -> Path:
    """The checkout's templates/ (source or editable install), else the copy inside the wheel."""
    source = Path(__file__).resolve().parents[2] / "templates"
    return source if source.is_dir() else Path(__file__).resolve().parents[1] / "_templates"


TEXT_WIDTH = 72  # body text of the text part; no line goes past LINE_LIMIT, except a lone long URL
LINE_LIMIT = 78  # RFC 5322's recommended line length: what plain-text readers are built for


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "", first: str = "") -> str:
    """Wrapped at spaces only: a URL (no spaces) is never broken, and one too long for a line gets a
    line of its own."""
    return textwrap.fill(
        text,
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _underlined(title: str, char: str = "-") -> str:
    """A heading of the text part: wrapped, underlined as wide as its longest line (so never past
    TEXT_WIDTH, unless one word is longer)."""
    lines = _wrap(title).splitlines() or [""]
    return "\n".join(lines) + "\n" + char * min(max(len(line) for line in lines), LINE_LIMIT)


def _labelled_url(label: str, url: str) -> str:
    """'Label: URL' on one line when it fits, else the label and the URL on a line of its own."""
    line = f"{label}: {url}"
    return line if len(line) <= LINE_LIMIT else f"{_wrap(label)}:\n{url}"


_NOT_IN_ANCHOR = re.compile(r"[^a-z0-9]+")


def anchor(name: str, prefix: str) -> str:
    """A stable fragment id for a trending entry, from its name: ('meta-llama/Llama-3.1-8B', 'hf')
    -> 'hf-meta-llama-llama-3-1-8b'. The archive page links to it (ARCHITECTURE.md, "The
    archive"); rank ids (hf-1, gh-1) sit beside it, so "today's #1" has an address too."""
    return f"{prefix}-{_NOT_IN_ANCHOR.sub('-', name.lower()).strip('-')}"


@lru_cache(maxsize=4)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "mjml", "mjml.j2", "html.j2"), default_for_string=True
        ),
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not an empty string
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["underlined"] = _underlined
    env.filters["labelled_url"] = _labelled_url
    env.filters["anchor"] = anchor
    return env


def split_placeholders(text: str) -> tuple[str, ...]:
    """'a %%X%% b' -> ('a ', 'X', ' b'): literals at even positions, placeholder names at odd ones.
    Unknown %%NAMES%% stay literal text (render_issue refuses them; lint reports them)."""
    parts = _PLACEHOLDER_RE.split(text)
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        if parts[i] in PLACEHOLDERS:
            out += [parts[i], parts[i + 1]]
        else:
            out[-1] += f"%%{parts[i]}%%{parts[i + 1]}"
    return tuple(out)


def unknown_placeholders(text: str) -> list[str]:
    return sorted(set(_PLACEHOLDER_RE.findall(text)) - set(PLACEHOLDERS))


def _join(parts: tuple[str, ...], values: Mapping[str, str]) -> str:
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = values[out[i]]
    return "".join(out)


@dataclass(frozen=True)
class RenderedIssue:
    subject: str
    preheader: str
    html: str
    text: str
    _html_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _text_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_html_parts", split_placeholders(self.html))
        object.__setattr__(self, "_text_parts", split_placeholders(self.text))

    def html_parts(self) -> tuple[str, ...]:
        return self._html_parts

    def text_parts(self) -> tuple[str, ...]:
        return self._text_parts

    def personalize(self, values: Mapping[str, str]) -> tuple[str, str]:
        """(html, text) for one recipient. Values are plain text; they are HTML-escaped for the HTML
        part."""
        escaped = {key: html_lib.escape(value, quote=True) for key, value in values.items()}
        return _join(self._html_parts, escaped), _join(self._text_parts, values)


def _counted(count: int, one: str, many: str) -> Figure | None:
    """'1 model', '2 models'; nothing for 0 (a reader is never told about what is not there)."""
    return Figure(str(count), one if count == 1 else many) if count else None


def _hf_figure(models: tuple) -> Figure | None:
    """Named after what the list holds: models, datasets, or both (then there are at least two)."""
    kinds = {m.kind for m in models}
    if kinds == {"dataset"}:
        return _counted(
            len(models), "Hugging Face dataset trending", "Hugging Face datasets trending"
        )
    if kinds == {"model"}:
        return _counted(len(models), "Hugging Face model trending", "Hugging Face models trending")
    return _counted(
        len(models),
        "Hugging Face model or dataset trending",
        "Hugging Face models & datasets trending",
    )


def default_figures(issue: IssueContent) -> tuple[Figure, ...]:
    """When the editor wrote no figures, count what this issue itself reports (zero counts left
    out)."""
    figures = (
        _hf_figure(issue.hf_models),
        _counted(
            len(issue.github_repos), "GitHub repository trending", "GitHub repositories trending"
        ),
        _counted(len(issue.tool_items), "tool of the week", "tools of the week"),
    )
    return tuple(f for f in figures if f is not None)


def _compile_mjml(source: str, template_name: str) -> str:
    try:
        return mjml.mjml2html(source)
    except Exception as exc:  # mjml-python raises its own (Rust-side) error types
        raise ContentError(template_name, None, f"MJML compile failed: {exc}") from exc


def _inline_css(html: str) -> str:
    # keep_style_tags: rules that cannot be inlined (@media for the phone layout, dark mode) stay in
    # <style>; allow_network=False so that no stylesheet is ever fetched while rendering.
    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
    return Premailer(
        html,
        keep_style_tags=True,
        strip_important=False,
        allow_network=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)


def archive_url(base_url: str, list_slug: str, date: object) -> str:
    return f"{base_url}/archive/{list_slug}/{date}"


def neutral_values(base_url: str, list_slug: str) -> dict[str, str]:
    """Placeholder values for a copy that belongs to nobody: the archive page, lint, screenshots."""
    subscribe = f"{base_url}/subscribe/{list_slug}"
    return {"GREETING": "Good morning", "UNSUBSCRIBE_URL": subscribe, "MANAGE_URL": subscribe}


def archive_html(rendered_or_html: RenderedIssue | str, base_url: str, list_slug: str) -> str:
    """The "view in browser" page: the mail's HTML without per-recipient links, QR code as a data:
    URI."""
    if isinstance(rendered_or_html, str):
        rendered_or_html = RenderedIssue(subject="", preheader="", html=rendered_or_html, text="")
    html, _ = rendered_or_html.personalize(neutral_values(base_url, list_slug))
    return with_data_uris(html)


def archive_text(text: str, base_url: str, list_slug: str) -> str:
    """The text part of a copy that belongs to nobody (the feeds), as `archive_html` is the HTML."""
    rendered = RenderedIssue(subject="", preheader="", html="", text=text)
    return rendered.personalize(neutral_values(base_url, list_slug))[1]


@dataclass(frozen=True)
class Sources:
    """What the templates produced, before MJML: lint looks at these."""

    mjml: str
    text: str
    template: str


def render_sources(issue: IssueContent, list_def: ListDefinition, base_url: str) -> Sources:
    env = _environment(str(templates_dir() / "email"))
    name = list_def.template
    subscribe_url = f"{base_url}/subscribe/{list_def.slug}"
    cta_url = issue.cta.button_url or subscribe_url
    context = {
        "issue": issue,
        "list": list_def,
        "figures": issue.figures or default_figures(issue),
        "cta_url": cta_url,
        "subscribe_url": subscribe_url,
        "archive_url": archive_url(base_url, list_def.slug, issue.date.isoformat()),
        "qr_cid": QR_CID,
        "preheader_padding": PREHEADER_PADDING,
    }
    try:
        mjml_source = env.get_template(f"{name}.mjml.j2").render(context)
        text = env.get_template(f"{name}.txt.j2").render(context)
    except jinja2.TemplateNotFound as exc:
        raise ContentError(
            list_def.path,
            None,
            f"field 'template': no template {exc.name} in {templates_dir() / 'email'}",
        ) from None
    except jinja2.TemplateError as exc:
        raise ContentError(f"template {name}", getattr(exc, "lineno", None), str(exc)) from None
    return Sources(
        mjml=mjml_source,
        text=re.sub(r"\n{3,}", "\n\n", text).strip() + "\n",
        template=f"{name}.mjml.j2",
    )


def render_issue(
    issue: IssueContent, list_def: ListDefinition, base_url: str, strict: bool = True
) -> RenderedIssue:
    """strict: refuse unknown %%PLACEHOLDERS%% (an editor's typo would reach every inbox)."""
    sources = render_sources(issue, list_def, base_url)
    html = _inline_css(_compile_mjml(sources.mjml, sources.template))
    unknown = unknown_placeholders(html + sources.text)
    if strict and unknown:
        raise ContentError(
            issue.path,
            None,
            f"unknown placeholder(s) {', '.join('%%' + u + '%%' for u in unknown)}",
        )
    return RenderedIssue(
        subject=issue.subject, preheader=issue.preheader, html=html, text=sources.text
    )
