"""Render an issue once: Jinja2 (autoescaped) -> MJML -> HTML (mjml-python) -> inlined CSS, plus text.

Per-recipient values are %%NAME%% placeholders left in the output and substituted afterwards by
`RenderedIssue.personalize`, which only joins pre-split string parts: no template runs per recipient.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import jinja2
import mjml
from premailer import Premailer

from .content.lists import ListDefinition
from .content.model import Figure, IssueContent
from .errors import ContentError

PLACEHOLDERS = ("GREETING", "UNSUBSCRIBE_URL", "MANAGE_URL")
_PLACEHOLDER_RE = re.compile(r"%%([A-Z_]+)%%")


def templates_dir() -> Path:
    """The checkout's templates/ (source or editable install), else the copy inside the wheel."""
    source = Path(__file__).resolve().parent.parent / "templates"
    return source if source.is_dir() else Path(__file__).resolve().parent / "_templates"


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    return textwrap.fill(text, width, initial_indent="", subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


@lru_cache(maxsize=4)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "mjml", "mjml.j2", "html.j2"),
                                            default_for_string=True),
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not an empty string
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


def _split(text: str) -> tuple[str, ...]:
    """'a %%X%% b' -> ('a ', 'X', ' b'): literals at even positions, placeholder names at odd ones."""
    parts = tuple(_PLACEHOLDER_RE.split(text))
    unknown = {parts[i] for i in range(1, len(parts), 2)} - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in rendered output")
    return parts


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
        object.__setattr__(self, "_html_parts", _split(self.html))
        object.__setattr__(self, "_text_parts", _split(self.text))

    def html_parts(self) -> tuple[str, ...]:
        return self._html_parts

    def text_parts(self) -> tuple[str, ...]:
        return self._text_parts

    def personalize(self, values: Mapping[str, str]) -> tuple[str, str]:
        """(html, text) for one recipient. Values are plain text; they are HTML-escaped for the HTML part."""
        escaped = {key: html_lib.escape(value, quote=True) for key, value in values.items()}
        return _join(self._html_parts, escaped), _join(self._text_parts, values)


def default_figures(issue: IssueContent) -> tuple[Figure, ...]:
    """When the editor wrote no figures, count what this issue itself reports."""
    return (
        Figure(str(len(issue.hf_models)), "Hugging Face models & datasets trending"),
        Figure(str(len(issue.github_repos)), "GitHub repositories trending"),
        Figure(str(len(issue.tool_items)), "tools of the week"),
    )


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


def render_issue(issue: IssueContent, list_def: ListDefinition, base_url: str) -> RenderedIssue:
    env = _environment(str(templates_dir() / "email"))
    name = list_def.template
    context = {
        "issue": issue,
        "list": list_def,
        "figures": issue.figures or default_figures(issue),
        "cta_url": issue.cta.button_url or f"{base_url}/subscribe/{list_def.slug}",
    }
    try:
        mjml_source = env.get_template(f"{name}.mjml.j2").render(context)
        text = env.get_template(f"{name}.txt.j2").render(context)
    except jinja2.TemplateNotFound as exc:
        raise ContentError(list_def.path, None, f"field 'template': no template {exc.name} in {templates_dir() / 'email'}") from None
    except jinja2.TemplateError as exc:
        raise ContentError(f"template {name}", getattr(exc, "lineno", None), str(exc)) from None
    html = _inline_css(_compile_mjml(mjml_source, f"{name}.mjml.j2"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return RenderedIssue(subject=issue.subject, preheader=issue.preheader, html=html, text=text)
