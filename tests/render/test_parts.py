"""Text part, preheader, archive copy and QR code."""

from __future__ import annotations

import re

import pytest

from mailer.render.issue import PREHEADER_PADDING, archive_html, neutral_values
from mailer.render.qr import QR_CID, qr_target
from tests.render.conftest import BASE_URL, LIST


@pytest.mark.parametrize("index", range(5))
def test_every_html_link_is_in_the_text_part_and_padding_is_not(seed_renders, index):
    html, text = seed_renders[index].personalize(neutral_values(BASE_URL, LIST.slug))
    links = set(re.findall(r'href="([^"]+)"', html))
    assert links and not [link for link in links if link.replace("&amp;", "&") not in text]
    assert PREHEADER_PADDING[:3] not in text and "\u034f" not in text


@pytest.mark.parametrize("index", range(5))
def test_html_has_preheader_lang_dark_mode_and_the_qr_code(seed_renders, seed_contents, index):
    html = seed_renders[index].html
    assert (
        '<html lang="en"' in html
        and 'name="color-scheme"' in html
        and "prefers-color-scheme: dark" in html
    )
    assert seed_contents[index].preheader + PREHEADER_PADDING in html
    # the QR code goes where the button next to it goes: the Telegram channel in two seeds
    button = seed_contents[index].cta.button_url or f"{BASE_URL}/subscribe/{LIST.slug}"
    assert qr_target(html) == button and f'src="cid:{QR_CID}"' in html
    assert f'href="{BASE_URL}/archive/{LIST.slug}/{seed_contents[index].date.isoformat()}"' in html


def test_the_telegram_seeds_scan_to_telegram(seed_renders, seed_contents):
    targets = {
        c.date.isoformat(): qr_target(r.html)
        for c, r in zip(seed_contents, seed_renders, strict=True)
    }
    assert (
        targets["2026-11-19"] == targets["2026-11-22"] == "https://aimorningpost.example/telegram"
    )
    assert targets["2026-11-18"] == f"{BASE_URL}/subscribe/{LIST.slug}"


def test_archive_copy_has_no_personal_links_and_shows_the_qr_code(seed_renders):
    page = archive_html(seed_renders[0], BASE_URL, LIST.slug)
    assert "%%" not in page and "cid:" not in page and 'src="data:image/png;base64,' in page
    assert "/unsubscribe/" not in page and "/manage/" not in page
    assert archive_html(seed_renders[0].html, BASE_URL, LIST.slug) == page
