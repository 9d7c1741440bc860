"""Write an IssueContent back as an issue file that `issue_file.parse_issue` reads to the same
content.

Cells are separated by ' | ' in the file, so text from the outside world (a repository description)
has that separator and line breaks flattened before it is written.
"""

from __future__ import annotations

import re

from mailer.content.model import Article, IssueContent, Item

DEFAULT_OPINION_HEADING = "Opinion & Analysis"


def cell(text: object) -> str:
    return re.sub(r"\s+", " ", str(text)).replace(" | ", " / ").strip()


def _item_line(*cells: object) -> str:
    values = [cell(c) for c in cells]
    while values and not values[-1]:
        values.pop()
    return "- " + " | ".join(values)


def _article(kind: str, article: Article) -> list[str]:
    out = [f"## {kind}: {cell(article.title)}", ""]
    for paragraph in article.paragraphs:
        out += [paragraph, ""]
    return out


def _items(kind: str, title: str, intro: str, items: tuple[Item, ...]) -> list[str]:
    out = [f"## {kind}: {cell(title)}", ""]
    if intro:
        out += [intro, ""]
    out += [
        _item_line(i.title, i.text or ("" if not i.url else "Link"), i.url or "") for i in items
    ]
    return out + ([""] if items else [])


def _front_matter(issue: IssueContent) -> list[str]:
    out = [
        "---",
        f"list: {issue.list_slug}",
        f"date: {issue.date.isoformat()}",
        f"subject: {cell(issue.subject)}",
        f"preheader: {cell(issue.preheader)}",
    ]
    if issue.opinion_heading != DEFAULT_OPINION_HEADING:
        out.append(f"opinion_heading: {cell(issue.opinion_heading)}")
    if issue.trending_as_of:
        out.append(f"as_of: {issue.trending_as_of.isoformat()}")
    return out + ["---", ""]


def _trending(issue: IssueContent) -> list[str]:
    out = [f"## Trending: {cell(issue.trending.title)}", ""]
    if issue.trending.intro:
        out += [issue.trending.intro, ""]
    out += [f"## Hugging Face: {cell(issue.hf_heading)}", ""]
    out += [
        _item_line(("datasets/" if m.kind == "dataset" else "") + m.id, m.task)
        for m in issue.hf_models
    ]
    out += ["", f"## GitHub: {cell(issue.github_heading)}", ""]
    out += [
        _item_line(r.name, r.description or "No description", "" if r.stars is None else r.stars)
        for r in issue.github_repos
    ]
    out += ["", f"## Movers: {cell(issue.movers.title)}", ""]
    out += [_item_line(m.name, m.gain, m.metric) for m in issue.mover_items]
    return out + [""]


def format_issue(issue: IssueContent) -> str:
    out = _front_matter(issue)
    out += [f"# {cell(issue.headline)}", "", f"> {cell(issue.dek)}", ""]
    for paragraph in issue.lead:
        out += [paragraph, ""]
    out += [f"## Metrics: {cell(issue.metrics.title)}", ""]
    out += [_item_line(f.value, f.label) for f in issue.figures] + ([""] if issue.figures else [])
    out += _article("Deep Dive", issue.deep_dive)
    for opinion in issue.opinions:
        out += _article("Opinion", opinion)
    out += _items("Tools", issue.tools.title, issue.tools.intro, issue.tool_items)
    out += _trending(issue)
    out += _items("Reading", issue.reading.title, issue.reading.intro, issue.reading_items)
    cta = issue.cta
    out += [f"## Subscribe: {cell(cta.title)}", ""]
    if cta.text:
        out += [cta.text, ""]
    out += [_item_line(cta.button_label, cta.button_url), f"qr: {cell(cta.qr_caption)}"]
    return "\n".join(out) + "\n"
