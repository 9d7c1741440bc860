"""The preview: an issue as a sample reader would get it, written to files a browser opens
(ARCHITECTURE.md: "Stages")."""

from __future__ import annotations

from pathlib import Path

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.render.greeting import greeting_for
from mailer.render.issue import render_issue
from mailer.render.qr import with_data_uris

# The sample recipient of a preview; greeted as a subscriber would be.
PREVIEW_READER = "Ada Lovelace"


def write_preview(
    settings: Settings, list_def: ListDefinition, content: IssueContent, out_dir: Path
) -> list[Path]:
    """The HTML and text a sample recipient would get, with working-looking personal links. The QR
    code is a data: URI in the preview (a browser cannot resolve the mail's cid: reference)."""
    rendered = render_issue(content, list_def, settings.base_url)
    html, text = rendered.personalize(
        {
            "GREETING": greeting_for(PREVIEW_READER),
            "UNSUBSCRIBE_URL": f"{settings.base_url}/unsubscribe/PREVIEW",
            "MANAGE_URL": f"{settings.base_url}/manage/PREVIEW",
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{content.list_slug}-{content.date.isoformat()}"
    paths = [out_dir / f"{stem}.html", out_dir / f"{stem}.txt"]
    paths[0].write_text(with_data_uris(html), encoding="utf-8")
    paths[1].write_text(text, encoding="utf-8")
    return paths
