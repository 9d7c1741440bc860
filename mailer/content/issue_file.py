"""Issue files: what an editor writes, one per list and date (issues/<list>/<YYYY-MM-DD>.md).

The format is a small, strict subset of Markdown so that any text editor works and every mistake
can be reported as `file:line: what is wrong`:

    ---
    list: ai-morning-post
    date: 2026-11-18
    subject: Subject line of the mail
    preheader: The line inbox previews show after the subject
    ---

    # Headline

    > Dek: the one-paragraph summary under the headline

    Lead paragraphs, separated by blank lines.

    ## Metrics: Specialization Metrics
    - 42 | models trending            (value | label)

    ## Deep Dive: Title
    Paragraphs.

    ## Opinion: Title                 (one section per piece, at least one)
    Paragraphs.

    ## Tools: Tools of the Week
    Intro line.
    - Name | what it does | https://optional.link   (cells never contain "|")

    ## Trending: Trending: What's Gaining Momentum
    Intro line.

    ## Hugging Face: Models & Datasets of the Week
    - owner/model | task-tag          (datasets/owner/name for a dataset)

    ## GitHub: AI/ML Repositories of the Week
    - owner/repo | description | stars (stars optional)

    ## Movers: Biggest Movers This Week
    - owner/repo | 1200 | stars       (name | gain | likes or stars)

    ## Reading: Weekend Reading
    - Title | description | https://optional.link

    ## Subscribe: Subscribe to AI Morning Post
    Paragraph.
    - Button label | https://optional.link (default: the list's subscribe page)
    qr: Scan to subscribe on mobile
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from mailer.content.model import (
    Article,
    CallToAction,
    Figure,
    IssueContent,
    Item,
    Mover,
    Section,
    TrendingModel,
    TrendingRepo,
)
from mailer.errors import ContentError

FRONT_MATTER_KEYS = {
    "list",
    "date",
    "subject",
    "preheader",
    "masthead",
    "tagline",
    "opinion_heading",
    "as_of",
}
REQUIRED_FRONT_MATTER = ("list", "date", "subject", "preheader")
# section keyword (lower-case) -> may it appear more than once?
SECTION_KINDS = {
    "metrics": False,
    "deep dive": False,
    "opinion": True,
    "tools": False,
    "trending": False,
    "hugging face": False,
    "github": False,
    "movers": False,
    "reading": False,
    "subscribe": False,
}
_SECTION_RE = re.compile(r"^##\s+([^:]+):\s*(.+?)\s*$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_MODEL_RE = re.compile(r"^(datasets/)?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")


@dataclass
class _Block:
    """A section as read: heading, paragraphs, list items and key: value lines, with line
    numbers."""

    kind: str
    title: str
    line: int
    paragraphs: list[str] = field(default_factory=list)
    items: list[tuple[int, list[str]]] = field(default_factory=list)
    keys: dict[str, tuple[int, str]] = field(default_factory=dict)


class _Reader:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def error(self, line: int | None, message: str) -> ContentError:
        return ContentError(self.path, line, message)

    def front_matter(self) -> tuple[dict[str, tuple[int, str]], int]:
        if not self.lines or self.lines[0].strip() != "---":
            raise self.error(1, "the file must start with a '---' line opening the front matter")
        values: dict[str, tuple[int, str]] = {}
        for idx in range(1, len(self.lines)):
            raw = self.lines[idx]
            lineno = idx + 1
            if raw.strip() == "---":
                return values, idx + 1
            if not raw.strip():
                continue
            key, sep, value = raw.partition(":")
            key = key.strip().lower()
            if not sep or not value.strip():
                raise self.error(
                    lineno, f"front matter line must be 'key: value', got {raw.strip()!r}"
                )
            if key not in FRONT_MATTER_KEYS:
                raise self.error(
                    lineno,
                    f"unknown front matter key '{key}'; known: "
                    f"{', '.join(sorted(FRONT_MATTER_KEYS))}",
                )
            if key in values:
                raise self.error(
                    lineno,
                    f"front matter key '{key}' appears twice (first on line {values[key][0]})",
                )
            values[key] = (lineno, value.strip())
        raise self.error(len(self.lines), "front matter is not closed: add a '---' line after it")

    def blocks(self, start: int) -> list[_Block]:
        """Split the body into the top block (headline, dek, lead) and one block per '## '
        section."""
        top = _Block(kind="top", title="", line=start + 1)
        blocks = [top]
        current = top
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                current.paragraphs.append(" ".join(paragraph))
                paragraph.clear()

        for idx in range(start, len(self.lines)):
            lineno = idx + 1
            line = self.lines[idx].strip()
            if not line:
                flush()
                continue
            if line.startswith("## "):
                flush()
                current = self._section_heading(line, lineno)
                blocks.append(current)
            elif line.startswith("# ") and current is top:
                flush()
                if "headline" in current.keys:
                    raise self.error(lineno, "a second '# ' headline; an issue has one headline")
                current.keys["headline"] = (lineno, line[2:].strip())
            elif line.startswith("#"):
                raise self.error(
                    lineno, f"unexpected heading {line!r}; sections start with '## Kind: Title'"
                )
            elif line.startswith("> ") or line == ">":
                flush()
                if current is not top:
                    raise self.error(
                        lineno, "a '> ' dek belongs under the '# ' headline, not in a section"
                    )
                prev = current.keys.get("dek")
                text = line[1:].strip()
                current.keys["dek"] = (
                    (prev[0], f"{prev[1]} {text}".strip()) if prev else (lineno, text)
                )
            elif line.startswith("- "):
                flush()
                cells = [cell.strip() for cell in line[2:].split("|")]
                current.items.append((lineno, cells))
            elif current.kind == "subscribe" and line.lower().startswith("qr:"):
                flush()
                current.keys["qr"] = (lineno, line[3:].strip())
            else:
                paragraph.append(line)
        flush()
        return blocks

    def _section_heading(self, line: str, lineno: int) -> _Block:
        match = _SECTION_RE.match(line)
        if not match:
            raise self.error(lineno, f"section heading must be '## Kind: Title', got {line!r}")
        kind = match.group(1).strip().lower()
        if kind not in SECTION_KINDS:
            raise self.error(
                lineno,
                f"unknown section kind '{match.group(1).strip()}'; known: "
                + ", ".join(k.title() for k in SECTION_KINDS),
            )
        return _Block(kind=kind, title=match.group(2), line=lineno)


def _https_url(reader: _Reader, lineno: int, value: str) -> str:
    if not re.match(r"^https://[^\s/]+\.[^\s]+$", value):
        raise reader.error(lineno, f"link {value!r} must be an absolute https:// URL")
    return value


def _int_cell(reader: _Reader, lineno: int, value: str, what: str) -> int:
    cleaned = value.replace(",", "").replace("+", "").strip()
    if not cleaned.isdigit():
        raise reader.error(lineno, f"{what} must be a whole number, got {value!r}")
    return int(cleaned)


def _cells(
    reader: _Reader, lineno: int, cells: list[str], low: int, high: int, shape: str
) -> list[str]:
    if not low <= len(cells) <= high or not all(cells):
        raise reader.error(lineno, f"list item must be '- {shape}' (cells separated by ' | ')")
    return cells + [""] * (high - len(cells))


def _items(reader: _Reader, block: _Block) -> tuple[Item, ...]:
    out = []
    for lineno, cells in block.items:
        title, text, url = _cells(reader, lineno, cells, 1, 3, "Title | description | https://link")
        out.append(
            Item(title=title, text=text, url=_https_url(reader, lineno, url) if url else None)
        )
    return tuple(out)


def _figures(reader: _Reader, block: _Block) -> tuple[Figure, ...]:
    return tuple(
        Figure(*_cells(reader, lineno, cells, 2, 2, "value | label"))
        for lineno, cells in block.items
    )


def _models(reader: _Reader, block: _Block) -> tuple[TrendingModel, ...]:
    out = []
    for lineno, cells in block.items:
        ident, task = _cells(reader, lineno, cells, 1, 2, "owner/model | task-tag")
        if not _MODEL_RE.match(ident):
            raise reader.error(
                lineno,
                f"{ident!r} is not a Hugging Face id like 'owner/name' or 'datasets/owner/name'",
            )
        kind = "dataset" if ident.startswith("datasets/") else "model"
        out.append(TrendingModel(id=ident.removeprefix("datasets/"), task=task, kind=kind))
    return tuple(out)


def _repos(reader: _Reader, block: _Block) -> tuple[TrendingRepo, ...]:
    out = []
    for lineno, cells in block.items:
        name, description, stars = _cells(
            reader, lineno, cells, 1, 3, "owner/repo | description | stars"
        )
        if not _REPO_RE.match(name):
            raise reader.error(
                lineno, f"{name!r} is not a GitHub repository name like 'owner/repo'"
            )
        out.append(
            TrendingRepo(
                name=name,
                description=description,
                stars=_int_cell(reader, lineno, stars, "stars") if stars else None,
            )
        )
    return tuple(out)


def _movers(reader: _Reader, block: _Block) -> tuple[Mover, ...]:
    out = []
    for lineno, cells in block.items:
        name, gain, metric = _cells(reader, lineno, cells, 3, 3, "name | gain | likes or stars")
        if metric not in ("likes", "stars"):
            raise reader.error(lineno, f"mover metric must be 'likes' or 'stars', got {metric!r}")
        source = "github" if metric == "stars" else "huggingface"
        url = (
            f"https://github.com/{name}" if source == "github" else f"https://huggingface.co/{name}"
        )
        out.append(
            Mover(
                name=name,
                source=source,
                gain=_int_cell(reader, lineno, gain, "gain"),
                metric=metric,
                url=url,
            )
        )
    return tuple(out)


def _no_items(reader: _Reader, block: _Block) -> None:
    if block.items:
        raise reader.error(
            block.items[0][0],
            f"the '{block.kind.title()}' section takes paragraphs, not list items",
        )


def _intro(reader: _Reader, block: _Block) -> Section:
    if len(block.paragraphs) > 1:
        raise reader.error(
            block.line, f"the '{block.kind.title()}' section takes at most one intro line"
        )
    return Section(title=block.title, intro=block.paragraphs[0] if block.paragraphs else "")


def _article(reader: _Reader, block: _Block) -> Article:
    _no_items(reader, block)
    if not block.paragraphs:
        raise reader.error(
            block.line, f"the '{block.kind.title()}' section '{block.title}' has no paragraphs"
        )
    return Article(title=block.title, paragraphs=tuple(block.paragraphs))


def _cta(reader: _Reader, block: _Block) -> CallToAction:
    if len(block.items) != 1:
        raise reader.error(
            block.line,
            "the Subscribe section needs exactly one '- Button label | https://link' item",
        )
    lineno, cells = block.items[0]
    label, url = _cells(reader, lineno, cells, 1, 2, "Button label | https://link")
    if "qr" not in block.keys:
        raise reader.error(
            block.line,
            "the Subscribe section needs a 'qr: caption' line (e.g. 'qr: Scan to subscribe on "
            "mobile')",
        )
    return CallToAction(
        title=block.title,
        text=" ".join(block.paragraphs),
        button_label=label,
        button_url=_https_url(reader, lineno, url) if url else "",
        qr_caption=block.keys["qr"][1],
    )


def _date(reader: _Reader, lineno: int, value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise reader.error(lineno, f"{key} must be a date like 2026-11-18, got {value!r}") from None


def parse_issue(path: Path, text: str, defaults: dict[str, str] | None = None) -> IssueContent:
    """Parse and validate an issue file. `defaults` supplies masthead/tagline from the list."""
    reader = _Reader(path, text)
    front, body_start = reader.front_matter()
    for key in REQUIRED_FRONT_MATTER:
        if key not in front:
            raise reader.error(1, f"front matter is missing '{key}:'")
    blocks = reader.blocks(body_start)
    top, sections = blocks[0], blocks[1:]
    by_kind: dict[str, list[_Block]] = {}
    for block in sections:
        if by_kind.get(block.kind) and not SECTION_KINDS[block.kind]:
            first = by_kind[block.kind][0].line
            raise reader.error(
                block.line, f"a second '{block.kind.title()}' section (first on line {first})"
            )
        by_kind.setdefault(block.kind, []).append(block)
    missing = [kind.title() for kind in SECTION_KINDS if kind not in by_kind]
    if missing:
        raise reader.error(
            None, f"missing section(s): {', '.join('## ' + m + ': ...' for m in missing)}"
        )
    if "headline" not in top.keys:
        raise reader.error(top.line, "the issue needs a '# Headline' line after the front matter")
    if "dek" not in top.keys:
        raise reader.error(top.keys["headline"][0], "the headline needs a '> dek' line under it")
    if not top.paragraphs:
        raise reader.error(
            top.keys["headline"][0], "the lead story has no paragraphs under the headline"
        )
    _no_items(reader, top)

    def one(kind: str) -> _Block:
        return by_kind[kind][0]

    defaults = defaults or {}

    def front_value(key: str, default: str = "") -> str:
        return front[key][1] if key in front else defaults.get(key, default)

    date_line, date_text = front["date"]
    as_of = (
        _date(reader, front["as_of"][0], front["as_of"][1], "as_of") if "as_of" in front else None
    )
    for kind in ("metrics", "hugging face", "github", "movers"):
        if one(kind).paragraphs:
            raise reader.error(
                one(kind).line, f"the '{kind.title()}' section takes list items only, no paragraphs"
            )
    return IssueContent(
        path=str(path),
        list_slug=front["list"][1],
        date=_date(reader, date_line, date_text, "date"),
        subject=front["subject"][1],
        preheader=front["preheader"][1],
        masthead=front_value("masthead"),
        tagline=front_value("tagline"),
        headline=top.keys["headline"][1],
        dek=top.keys["dek"][1],
        lead=tuple(top.paragraphs),
        metrics=Section(one("metrics").title),
        figures=_figures(reader, one("metrics")),
        deep_dive=_article(reader, one("deep dive")),
        opinion_heading=front_value("opinion_heading", "Opinion & Analysis"),
        opinions=tuple(_article(reader, block) for block in by_kind["opinion"]),
        tools=_intro(reader, one("tools")),
        tool_items=_items(reader, one("tools")),
        trending=_intro(reader, one("trending")),
        hf_heading=one("hugging face").title,
        hf_models=_models(reader, one("hugging face")),
        github_heading=one("github").title,
        github_repos=_repos(reader, one("github")),
        movers=Section(one("movers").title),
        mover_items=_movers(reader, one("movers")),
        reading=_intro(reader, one("reading")),
        reading_items=_items(reader, one("reading")),
        cta=_cta(reader, one("subscribe")),
        trending_as_of=as_of,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, None, "no such issue file") from None
    except UnicodeDecodeError as exc:
        raise ContentError(
            path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None


def issue_front_matter(path: Path) -> tuple[str, dt.date]:
    """(list slug, date) from an issue file's front matter, the body unread: which issue it is."""
    reader = _Reader(path, _read_text(path))
    front, _ = reader.front_matter()
    for key in ("list", "date"):
        if key not in front:
            raise reader.error(1, f"front matter is missing '{key}:'")
    return front["list"][1], _date(reader, *front["date"], "date")


def load_issue(path: Path, defaults: dict[str, str] | None = None) -> IssueContent:
    content = parse_issue(path, _read_text(path), defaults)
    stem_date = path.stem
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stem_date) and stem_date != content.date.isoformat():
        raise ContentError(
            path,
            None,
            f"file name says {stem_date} but front matter date is {content.date}; make them agree",
        )
    return content
