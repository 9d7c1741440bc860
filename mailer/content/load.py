"""An issue as a send renders it: the file, the list's defaults and the stored trending sections
(ARCHITECTURE.md: "Stages").

`load_issue_for` reads and checks the whole file; `issue_date_for` finds only which issue `--issue`
names (its date), from the file name or the front matter, for commands that read what a send did
and must work whatever state the body is in.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content.issue_file import issue_front_matter, load_issue
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.content.resolve import resolve_issue
from mailer.content.trending import attach_trending
from mailer.errors import ContentError, SendError
from mailer.store.db import transaction

_DATE_STEM = re.compile(r"\d{4}-\d{2}-\d{2}")


def issue_defaults(list_def: ListDefinition) -> dict[str, str]:
    """Front matter an issue file may leave out, taken from its list."""
    return {"masthead": list_def.name, "tagline": list_def.tagline}


def load_issue_for(
    settings: Settings,
    list_def: ListDefinition,
    spec: str,
    today: dt.date | None = None,
    factory: sessionmaker[Session] | None = None,
    require_fresh: bool = False,
) -> IssueContent:
    """The issue file for `spec`, with trending sections from the stored snapshots when a database
    is given (sections the editor wrote always win; nothing is fetched here)."""
    path = resolve_issue(spec, settings.issues_path, list_def.slug, today)
    content = load_issue(path, issue_defaults(list_def))
    _require_list(path, content.list_slug, list_def)
    if factory is not None:
        with transaction(factory) as session:
            day = today or dt.date.today()
            content = attach_trending(content, session, list_def, day, require_fresh)
    return content


def issue_date_for(
    settings: Settings, list_def: ListDefinition, spec: str, today: dt.date | None = None
) -> dt.date:
    """The date of the issue `spec` names (today, latest, a date or a path), read from the front
    matter alone: the same file is found, and the same list and date checks made, as load_issue_for,
    but the body is not parsed."""
    path = resolve_issue(spec, settings.issues_path, list_def.slug, today)
    list_slug, day = issue_front_matter(path)
    _require_list(path, list_slug, list_def)
    if _DATE_STEM.fullmatch(path.stem) and path.stem != day.isoformat():
        raise ContentError(
            path,
            None,
            f"file name says {path.stem} but front matter date is {day}; make them agree",
        )
    return day


def _require_list(path: Path, list_slug: str, list_def: ListDefinition) -> None:
    if list_slug != list_def.slug:
        raise SendError(
            f"{path}: front matter says list '{list_slug}' but the send is for '{list_def.slug}'"
        )
