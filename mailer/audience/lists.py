"""The database row of each list defined in lists/*.toml."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.content.lists import ListDefinition
from mailer.store.models import MailingList
from mailer.store.queries import dialect_insert


def ensure_list(session: Session, list_def: ListDefinition) -> int:
    """The database id of a list defined in lists/, created (or renamed) to match the file. A write:
    commands that only read the ledger find the list by its slug instead."""
    row = session.scalar(select(MailingList).where(MailingList.slug == list_def.slug))
    if row is None:
        session.execute(
            dialect_insert(session, MailingList)
            .values(slug=list_def.slug, name=list_def.name)
            .on_conflict_do_nothing(index_elements=["slug"])
        )
        row = session.scalar(select(MailingList).where(MailingList.slug == list_def.slug))
    elif row.name != list_def.name:
        row.name = list_def.name
    return row.id
