"""Render a weekly digest once (ARCHITECTURE.md, "Preferences"), as render/issue.py renders an
issue: Jinja2 (autoescaped) -> MJML -> HTML with inlined CSS, plus the text part, with the same
%%PLACEHOLDERS%% (greeting, unsubscribe and manage links) filled per recipient by
`RenderedIssue.personalize`. Its own templates: templates/email/digest.mjml.j2 and digest.txt.j2.
"""

from __future__ import annotations

import re

import jinja2

from mailer.content.digest import DigestContent
from mailer.content.lists import ListDefinition
from mailer.errors import ContentError
from mailer.render.issue import (
    PREHEADER_PADDING,
    RenderedIssue,
    _compile_mjml,
    _environment,
    _inline_css,
    templates_dir,
)

TEMPLATE = "digest"


def _sources(digest: DigestContent, list_def: ListDefinition, base_url: str) -> tuple[str, str]:
    env = _environment(str(templates_dir() / "email"))
    context = {
        "digest": digest,
        "list": list_def,
        "subscribe_url": f"{base_url}/subscribe/{list_def.slug}",
        "preheader_padding": PREHEADER_PADDING,
    }
    try:
        mjml_source = env.get_template(f"{TEMPLATE}.mjml.j2").render(context)
        text = env.get_template(f"{TEMPLATE}.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        where = f"template {TEMPLATE} in {templates_dir() / 'email'}"
        raise ContentError(where, getattr(exc, "lineno", None), str(exc)) from None
    return mjml_source, re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_digest(digest: DigestContent, list_def: ListDefinition, base_url: str) -> RenderedIssue:
    """The digest's subject, preheader, HTML and text, placeholders left for the recipients."""
    mjml_source, text = _sources(digest, list_def, base_url)
    html = _inline_css(_compile_mjml(mjml_source, f"{TEMPLATE}.mjml.j2"))
    return RenderedIssue(subject=digest.subject, preheader=digest.preheader, html=html, text=text)
