"""The call-to-action QR code ("scan to subscribe", "scan to join"): a PNG made locally with segno,
never fetched from a third party.

Choice: the mail carries the PNG as an inline MIME part (multipart/related, `cid:` reference) rather
than linking to an image on our server. Inline parts show without "load remote images", cost no
request, and leak nothing about who opened the mail; the 102 KB clip limit counts only the HTML.
Browsers cannot resolve `cid:`, so the "view in browser" copy gets the same PNG as a `data:` URI.

The template wraps the image in a link to the call to action's URL (the button's: the subscribe
page, or e.g. the Telegram channel), so the PNG can always be regenerated from the HTML alone (an
issue re-read from the database has only its HTML and text).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from functools import lru_cache

import segno

QR_CID = "qr-subscribe@mailer"
_QR_LINK_RE = re.compile(
    r'<a\b[^>]*\bhref="([^"]+)"[^>]*>\s*<img\b[^>]*\bsrc="cid:' + re.escape(QR_CID) + '"'
)


@dataclass(frozen=True)
class InlineImage:
    cid: str
    subtype: str  # image/<subtype>
    data: bytes
    filename: str


@lru_cache(maxsize=16)
def qr_png(url: str, scale: int = 5) -> bytes:
    """Black on white with a quiet zone: readable in dark mode too (it is a picture, not text)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buffer, kind="png", scale=scale, border=3, dark="#000000", light="#ffffff"
    )
    return buffer.getvalue()


def qr_target(html: str) -> str | None:
    """The URL the QR code in this HTML encodes (the link around the image), or None when it has
    none."""
    match = _QR_LINK_RE.search(html)
    return match.group(1).replace("&amp;", "&") if match else None


def inline_images(html: str) -> tuple[InlineImage, ...]:
    url = qr_target(html)
    if url is None:
        return ()
    return (InlineImage(cid=QR_CID, subtype="png", data=qr_png(url), filename="subscribe-qr.png"),)


def with_data_uris(html: str) -> str:
    """The HTML with every inline `cid:` image replaced by a data: URI, for browsers."""
    for image in inline_images(html):
        uri = f"data:image/{image.subtype};base64," + base64.b64encode(image.data).decode("ascii")
        html = html.replace(f'src="cid:{image.cid}"', f'src="{uri}"')
    return html
