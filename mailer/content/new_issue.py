"""A new issue file, as `mailer issue new` writes it: headings from an earlier issue (or none), the
editorial text to fill as prompts, the trending sections from the stored snapshots (ARCHITECTURE.md,
the content stage)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content.click_order import ClickOrder, order_by_click_rates
from mailer.content.issue_file import load_issue
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.content.resolve import resolve_issue
from mailer.content.scaffold import scaffold_issue, write_issue_file
from mailer.content.snapshots import Snapshot
from mailer.store.db import transaction

NO_SOURCE = "none"  # the --from value for an issue without an earlier one to take headings from


@dataclass(frozen=True)
class NewIssue:
    path: Path
    content: IssueContent
    snapshots: dict[str, Snapshot | None]  # by source name: None where there is no snapshot yet
    click_order: ClickOrder | None = None  # None: the list's [analytics] order_by_clicks is off


def new_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    day: dt.date,
    from_spec: str,
    folder: Callable[[], Path],
    *,
    copy_text: bool = False,
    require_fresh: bool = False,
    force: bool = False,
    today: dt.date | None = None,
    rates: Callable[[], Mapping[str, float]] | None = None,
) -> NewIssue:
    """Write <folder>/<list>/<day>.md, scaffolded from the issue `from_spec` names, or NO_SOURCE.
    `folder` is called once the issue is scaffolded (it may create the folder), so that a scaffold
    that fails leaves no folder behind. `rates` gives the earlier click rates by URL; it is called
    when the list's [analytics] order_by_clicks is on (content/click_order.py)."""
    defaults = {"masthead": list_def.name, "tagline": list_def.tagline}
    source = None
    if from_spec != NO_SOURCE:
        path = resolve_issue(from_spec, settings.issues_path, list_def.slug, today)
        source = load_issue(path, defaults)
    with transaction(factory) as session:
        content, snapshots = scaffold_issue(
            session,
            list_def,
            day,
            source,
            copy_text=copy_text,
            require_fresh=require_fresh,
            today=today,
        )
    click_order = None
    if list_def.analytics.order_by_clicks and rates is not None:
        content, click_order = order_by_click_rates(content, rates())
    path = write_issue_file(content, folder(), force=force)
    load_issue(path, defaults)  # what we wrote must read back: a bug must not reach the editor
    return NewIssue(path, content, snapshots, click_order)
