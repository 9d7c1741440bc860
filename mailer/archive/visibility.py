"""Which stored issues the archive shows besides the sent ones: `mailer archive publish|hide|reset`
(ARCHITECTURE.md, "The archive")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from mailer.archive.store import set_visibility
from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.load import load_issue_for
from mailer.errors import NotFoundError
from mailer.send.campaign import store_issue
from mailer.store.db import transaction
from mailer.store.models import Visibility

SHOWN = {
    Visibility.PUBLIC: "in the archive from its date on, sent or not",
    Visibility.HIDDEN: "hidden from the archive, sent or not",
    None: "in the archive once its send has started",
}


def mark(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    day: dt.date,
    visibility: Visibility | None,
) -> str:
    """Set the issue's visibility; a line saying what it now is. Publishing an issue that was never
    stored renders and stores it from its file first (with the trending snapshots of its date), as
    a send would; an issue whose send started keeps the render that went out."""
    if visibility is Visibility.PUBLIC:
        content = load_issue_for(settings, list_def, day.isoformat(), today=day, factory=factory)
        store_issue(factory, settings, list_def, content)
    with transaction(factory) as session:
        found = set_visibility(session, list_def.slug, day, visibility)
    if not found:
        raise NotFoundError(
            f"no issue of {list_def.slug} for {day} is stored (it is stored when its send is "
            f"planned); `mailer archive publish --list {list_def.slug} --date {day}` stores it"
        )
    return f"{list_def.slug} {day}: {SHOWN[visibility]}"
