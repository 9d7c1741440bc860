"""What the archive shows of each issue, and of the list: plain data, built by the caller from the
database, read by the feeds and the sitemap (ARCHITECTURE.md, "Layers and rules": plain data
across stages).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class ArchiveEntry:
    date: datetime.date
    headline: str
    dek: str
    subject: str
    url: str  # absolute URL of the issue page
    published: datetime.datetime  # timezone-aware
    updated: datetime.datetime  # timezone-aware
    # The full content as HTML: a complete document from the mail renderer, with <style>,
    # its placeholders filled with the neutral values (mailer.render.issue.neutral_values).
    html: str
    text: str  # the plain-text version, its placeholders filled the same way
    image_url: str | None = None  # absolute URL of the share card PNG


@dataclass(frozen=True)
class ArchiveMeta:
    title: str  # the list name
    description: str  # the tagline
    home_url: str  # absolute URL of the archive index
    atom_url: str
    json_url: str
    language: str = "en"
    author: str = ""  # e.g. the list name
    icon_url: str | None = None
