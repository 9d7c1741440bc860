"""The welcome mail's render (ARCHITECTURE.md, "Preferences"): templates/email/welcome.mjml.j2 and
welcome.txt.j2 through the same Jinja2 -> MJML -> inlined CSS path as an issue (render/issue.py),
with the list's [welcome] subject and intro and the latest sent issue's headline and archive link.

Rendered once per list and latest issue, not per reader: the greeting, the manage and the
unsubscribe links stay %%PLACEHOLDERS%%, filled when each message is built (send/message.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import jinja2

from mailer.content.lists import ListDefinition
from mailer.errors import ContentError
from mailer.render.issue import (
    PREHEADER_PADDING,
    RenderedIssue,
    _compile_mjml,
    _environment,
    _inline_css,
    archive_url,
    templates_dir,
)

TEMPLATE = "welcome"
DEFAULT_INTRO = (
    "Thank you for confirming your subscription. From now on every issue comes to this address; "
    "each one ends with a link to change your preferences or to leave."
)


@dataclass(frozen=True)
class LatestIssue:
    """The list's latest sent issue, as the welcome mail shows it."""

    issue_id: int
    date: dt.date
    headline: str
    dek: str
    url: str  # its archive page, /archive/<slug>/<date>


def latest_issue(
    issue_id: int, date: dt.date, headline: str, dek: str, base_url: str, slug: str
) -> LatestIssue:
    return LatestIssue(issue_id, date, headline, dek, archive_url(base_url, slug, date.isoformat()))


def welcome_subject(list_def: ListDefinition) -> str:
    return list_def.welcome.subject or f"Welcome to {list_def.name}"


def render_welcome(list_def: ListDefinition, latest: LatestIssue | None) -> RenderedIssue:
    """The list's welcome mail with `latest` (None: the list has sent nothing yet, the section is
    left out). A template error is a ContentError naming the template."""
    env = _environment(str(templates_dir() / "email"))
    subject = welcome_subject(list_def)
    intro = list_def.welcome.intro or DEFAULT_INTRO
    context = {
        "list": list_def,
        "subject": subject,
        "intro": intro,
        "latest": latest,
        "preheader_padding": PREHEADER_PADDING,
    }
    try:
        source = env.get_template(f"{TEMPLATE}.mjml.j2").render(context)
        text = env.get_template(f"{TEMPLATE}.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        raise ContentError(f"template {TEMPLATE}", getattr(exc, "lineno", None), str(exc)) from None
    html = _inline_css(_compile_mjml(source, f"{TEMPLATE}.mjml.j2"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return RenderedIssue(subject=subject, preheader=intro, html=html, text=text)
