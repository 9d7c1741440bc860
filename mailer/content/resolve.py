"""Turn `--issue today|latest|YYYY-MM-DD|path` into an issue file path, or the date it names."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

from mailer.errors import NotFoundError

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def issue_files(issues_path: Sequence[Path], list_slug: str) -> dict[dt.date, Path]:
    """Every dated issue file of a list; earlier folders in the path win for the same date."""
    found: dict[dt.date, Path] = {}
    for folder in issues_path:
        for path in sorted((folder / list_slug).glob("*.md")):
            if _DATE_RE.match(path.stem):
                found.setdefault(dt.date.fromisoformat(path.stem), path)
    return found


def resolve_issue(
    spec: str, issues_path: Sequence[Path], list_slug: str, today: dt.date | None = None
) -> Path:
    today = today or dt.date.today()
    where = ", ".join(str(folder / list_slug) for folder in issues_path)
    if spec not in ("today", "latest") and not _DATE_RE.match(spec):
        path = Path(spec)
        if path.suffix == ".md" or path.exists():
            if not path.is_file():
                raise NotFoundError(f"--issue {spec}: no such file")
            return path
        raise NotFoundError(
            f"--issue {spec!r}: use today, latest, a date like 2026-11-18, or the path of an issue "
            "file"
        )
    files = issue_files(issues_path, list_slug)
    if spec == "latest":
        if not files:
            raise NotFoundError(f"--issue latest: no issue files in {where}")
        return files[max(files)]
    if spec == "today":
        day = today
    else:
        try:
            day = dt.date.fromisoformat(spec)
        except ValueError:
            raise NotFoundError(f"--issue {spec}: not a valid date (use YYYY-MM-DD)") from None
    if day not in files:
        known = ", ".join(d.isoformat() for d in sorted(files)[-5:]) or "none"
        raise NotFoundError(
            f"--issue {spec}: no issue file for {day} in {where} (latest: {known}); "
            f"write issues/{list_slug}/{day}.md or scaffold it with `mailer issue new --date {day}`"
        )
    return files[day]
