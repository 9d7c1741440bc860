"""Plain dataclasses for what an issue says. The renderer takes these; no ORM object gets here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One figure of the metrics row: a value and what it measures."""

    value: str
    label: str


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """A titled entry with a line of text and an optional link (tools, reading)."""

    title: str
    text: str = ""
    url: str | None = None


@dataclass(frozen=True)
class TrendingModel:
    """A Hugging Face model or dataset. `kind` is 'model' or 'dataset'."""

    id: str
    task: str = ""
    kind: str = "model"
    likes: int | None = None
    downloads: int | None = None

    @property
    def url(self) -> str:
        prefix = "datasets/" if self.kind == "dataset" else ""
        return f"https://huggingface.co/{prefix}{self.id}"


@dataclass(frozen=True)
class TrendingRepo:
    name: str  # owner/repo
    description: str = ""
    stars: int | None = None

    @property
    def url(self) -> str:
        return f"https://github.com/{self.name}"


@dataclass(frozen=True)
class Mover:
    name: str
    source: str  # huggingface | github
    gain: int
    metric: str  # likes | stars
    url: str


@dataclass(frozen=True)
class CallToAction:
    title: str
    text: str
    button_label: str
    button_url: str
    qr_caption: str


@dataclass(frozen=True)
class Section:
    """A heading with its optional intro line, as the editor wrote it."""

    title: str
    intro: str = ""


@dataclass(frozen=True)
class IssueContent:
    path: str
    list_slug: str
    date: dt.date
    subject: str
    preheader: str
    masthead: str
    tagline: str
    headline: str
    dek: str
    lead: tuple[str, ...]
    metrics: Section
    figures: tuple[Figure, ...]
    deep_dive: Article
    opinion_heading: str
    opinions: tuple[Article, ...]
    tools: Section
    tool_items: tuple[Item, ...]
    trending: Section
    hf_heading: str
    hf_models: tuple[TrendingModel, ...]
    github_heading: str
    github_repos: tuple[TrendingRepo, ...]
    movers: Section
    mover_items: tuple[Mover, ...]
    reading: Section
    reading_items: tuple[Item, ...]
    cta: CallToAction
    trending_as_of: dt.date | None = None
    extra: dict = field(default_factory=dict)
