"""Share cards (mailer/render/card.py), judged from the PNG alone: decoded with Pillow, the drawn
pixels found by comparing with the paper colour or with the card of another headline."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import struct
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageChops

from mailer.render import card
from mailer.render.card import CARD_SIZE, card_png
from tests.contrast import contrast_ratio
from tests.render.conftest import LIST, REPO, SEEDS

MASTHEAD = LIST.name
TAGLINE = LIST.tagline  # "Artificial Intelligence • Machine Learning • Future Tech"
DATE = dt.date(2026, 12, 2)
WIDTH, HEIGHT = CARD_SIZE

WORDS = "Open weights model beats frontier systems on reasoning benchmarks while costing less"
HEADLINES = {
    "short": "Short",
    "seed": "The Specialization Revolution: AI Models Target Ultra-Specific Use Cases",
    "long": (WORDS + " ") * 2,
    "400 chars": ((WORDS + " ") * 6)[:400],
    "400 W": "W" * 400,  # one word, the widest letter: cut, not overflowing
    "400 no spaces": "https://example.com/" + "a-very-long-path/" * 23,
    "newlines and tabs": "Line one\nline two\tand\r\nthree  spaced",
    "accents": "Café Nöther señor Łódź Ærø — “quoted” ‘naïve’ …",
}
# Nothing here is drawable by a Latin, Greek and Cyrillic serif: each must not raise and must leave
# no trace (no missing-glyph boxes).
UNDRAWABLE = {
    "cjk": "人工知能の朝刊 中文标题 한국어",
    "emoji": "😀🚀 👩‍💻 ❤️ 🏳️‍🌈",
    "controls": "\x00\x1b\x07\x7f\x9b",
    "format": "\u200b\u200d\u202e\u2066\ufeff",
    "surrogate": "\ud800\udfff",
    "private use": "\ue000\uf8ff",
    "noncharacter": "\U0010ffff\ufffe",
}
HOSTILE = {
    **UNDRAWABLE,
    "arabic": "الذكاء الاصطناعي",
    "zalgo": "Z̷̢̛̛a̴̡l̸̨g̵̢o̶ ̷t̴e̸x̵t̶",
    "mixed": "AI 人工知能 — Ελληνικά 😀 Русский",
    "huge": "word " * 4000,
    "one huge word": "x" * 20000,
}


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def rgb(png: bytes) -> Image.Image:
    return decode(png).convert("RGB")


def ink_box(image: Image.Image, background=card.PAPER):
    """The box around every pixel that is not the background, or None."""
    return ImageChops.difference(image, Image.new("RGB", image.size, background)).getbbox()


def changed_box(a: Image.Image, b: Image.Image):
    return ImageChops.difference(a, b).getbbox()


def a_card(headline: str = "", masthead: str = MASTHEAD, tagline: str = TAGLINE, date=DATE):
    return card_png(masthead, headline, date, tagline)


@pytest.fixture(scope="module")
def blank():
    """The card with an empty headline: the masthead alone."""
    return rgb(a_card(""))


# --- the file ---------------------------------------------------------------------------------


def test_a_card_is_a_1200x630_png_on_a_palette():
    png = a_card(HEADLINES["seed"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = decode(png)
    assert image.format == "PNG"
    assert image.size == (1200, 630) == CARD_SIZE
    assert image.mode == "P"  # a fixed palette: the ramps from paper to each colour
    assert rgb(png).getpixel((0, 0)) == card.PAPER


def test_the_png_has_only_image_chunks():
    """No time, text or physical-size chunk: nothing that could differ between two runs."""
    png = a_card(HEADLINES["seed"])
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        chunks.append(png[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    assert offset == len(png)
    assert set(chunks) <= {"IHDR", "PLTE", "IDAT", "IEND"}, chunks


def test_the_five_seed_cards_are_small(seed_contents):
    sizes = {}
    for path, issue in zip(SEEDS, seed_contents, strict=True):
        png = card_png(issue.masthead, issue.headline, issue.date, issue.tagline)
        assert decode(png).size == CARD_SIZE
        sizes[path.stem] = len(png)
    assert len(sizes) == 5
    assert max(sizes.values()) < 48_000, sizes


# --- layout -----------------------------------------------------------------------------------


def test_the_margins_leave_a_safe_zone():
    assert card.MARGIN >= 48 and card.TOP >= 40 and card.BOTTOM >= 40


@pytest.mark.parametrize("name", [*HEADLINES, *HOSTILE])
def test_everything_drawn_stays_inside_the_margins(name):
    text = {**HEADLINES, **HOSTILE}[name]
    for png in (a_card(text), a_card(masthead=text), a_card(tagline=text)):
        left, top, right, bottom = ink_box(rgb(png))
        assert left >= card.MARGIN and right <= WIDTH - card.MARGIN, (left, right)
        assert top >= card.TOP and bottom <= HEIGHT - card.BOTTOM, (top, bottom)


@pytest.mark.parametrize("name", HEADLINES)
def test_the_headline_is_drawn_below_the_masthead(name, blank):
    headline = changed_box(rgb(a_card(HEADLINES[name])), blank)
    assert headline is not None, "nothing drawn"
    masthead = ink_box(blank)
    assert headline[1] > masthead[3] + 20, (headline, masthead)  # below the rule, with air
    assert headline[0] >= card.MARGIN and headline[2] <= WIDTH - card.MARGIN


def text_rows(image: Image.Image, box) -> list[int]:
    """Heights of the runs of rows that hold ink inside the box: the accent mark, then each line."""
    region = ImageChops.difference(
        image.crop(box), Image.new("RGB", (box[2] - box[0], box[3] - box[1]), card.PAPER)
    ).convert("L")
    inked = [
        region.crop((0, y, region.width, y + 1)).getbbox() is not None for y in range(region.height)
    ]
    runs, run = [], 0
    for row in [*inked, False]:
        if row:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return runs


def test_a_longer_headline_is_set_smaller(blank):
    """The height of a line of ink (a capital to a descender: every line holds "Typography")
    shrinks step by step as the headline grows."""
    heights = []
    for words in (1, 5, 10, 20, 40):
        image = rgb(a_card(" ".join(["Typography"] * words)))
        rows = text_rows(image, changed_box(image, blank))
        heights.append(max(rows[1:]))  # rows[0] is the accent mark
    assert heights == sorted(heights, reverse=True) and len(set(heights)) >= 4, heights


def test_a_headline_longer_than_the_card_holds_is_cut():
    """At the smallest size the last line ends in an ellipsis: whatever follows the cut does not
    change the card, however long."""
    cut = a_card(HEADLINES["400 chars"])
    assert a_card(HEADLINES["400 chars"] + " and then some more words") == cut
    assert a_card(HEADLINES["400 chars"] + " more" * 500) == cut
    assert a_card("W" * 400) == a_card("W" * 4000)


# --- what is drawn ----------------------------------------------------------------------------


def test_different_headlines_dates_and_mastheads_give_different_cards():
    cards = {
        a_card("Models get smaller"),
        a_card("Models get larger"),
        a_card("Models get smaller", date=dt.date(2026, 12, 3)),
        a_card("Models get smaller", masthead="The AI Evening Post"),
        a_card("Models get smaller", tagline=""),
    }
    assert len(cards) == 5


def test_the_date_is_written_as_the_mails_masthead_writes_it():
    template = (REPO / "templates" / "email" / "newsletter.mjml.j2").read_text(encoding="utf-8")
    (fmt,) = re.findall(r'issue\.date\.strftime\("([^"]+)"\)', template)
    assert card.date_line(DATE) == "Wednesday, December 2, 2026"
    for day in (dt.date(2026, 1, 1), dt.date(2027, 9, 30), dt.date(2028, 2, 29)):
        # %-d (no leading zero) is glibc's: what the template gets on the servers it runs on
        assert card.date_line(day) == day.strftime(fmt)


def test_greek_cyrillic_and_accents_are_drawn(blank):
    drawn = {a_card(t) for t in ("Ελληνικά νέα", "Русские новости", "Café Nöther Łódź")}
    assert len(drawn) == 3
    for png in drawn:
        assert changed_box(rgb(png), blank) is not None


@pytest.mark.parametrize("name", UNDRAWABLE)
def test_undrawable_text_leaves_no_boxes(name):
    """Characters the font has no glyph for are left out: an undrawable headline is the blank card,
    and in a mixed headline only the drawable words remain."""
    text = UNDRAWABLE[name]
    assert a_card(text) == a_card("")
    assert a_card(f"Café {text} — naïve") == a_card("Café — naïve")
    assert a_card("Models", masthead=f"{MASTHEAD} {text}") == a_card("Models")


def test_compatibility_forms_are_drawn_as_their_plain_letters():
    assert a_card("ＡＩ ｍｏｄｅｌｓ") == a_card("AI models")  # fullwidth letters


# --- contrast ---------------------------------------------------------------------------------


def dominant_colour(image: Image.Image, box) -> tuple[int, int, int]:
    """The commonest colour in the box that is not the paper: the solid inside of the glyphs."""
    counts = Counter({colour: n for n, colour in image.crop(box).getcolors(1 << 20)})
    counts.pop(card.PAPER, None)
    return counts.most_common(1)[0][0]


def test_the_headline_has_body_text_contrast(blank):
    image = rgb(a_card(HEADLINES["seed"]))
    box = changed_box(image, blank)
    background = image.getpixel((0, 0))
    ink = dominant_colour(image, box)
    assert contrast_ratio(ink, background) >= 4.5, (ink, background)
    assert ink == card.INK  # the mail's ink, exact


def test_the_date_and_tagline_have_body_text_contrast():
    """The smallest text on the card: the tagline (found by leaving it out) and the date line."""
    with_tagline, without = rgb(a_card("Models")), rgb(a_card("Models", tagline=""))
    background = with_tagline.getpixel((0, 0))
    tagline = dominant_colour(with_tagline, changed_box(with_tagline, without))
    date = dominant_colour(with_tagline, (0, card.TOP, WIDTH, card.TOP + 30))
    for colour in (tagline, date):
        assert contrast_ratio(colour, background) >= 4.5, (colour, background)


# --- determinism ------------------------------------------------------------------------------

SUBPROCESS = """
import datetime, hashlib, sys
from mailer.render.card import card_png
png = card_png(sys.argv[1], sys.argv[2], datetime.date(2026, 12, 2), sys.argv[3])
print(hashlib.sha256(png).hexdigest())
"""


def test_the_same_arguments_give_the_same_bytes():
    args = (MASTHEAD, HEADLINES["seed"] + " 中文 😀", TAGLINE)
    png = a_card(args[1])
    assert a_card(args[1]) == png
    digests = set()
    for seed in ("0", "1", "12345"):  # a fresh interpreter, string hashing seeded differently
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", SUBPROCESS, *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        digests.add(out.stdout.strip())
    assert digests == {hashlib.sha256(png).hexdigest()}


def test_cards_drawn_in_parallel_threads_are_the_same():
    """The web app may draw cards from several threads at once; the fonts are shared."""
    texts = [HEADLINES["seed"], HEADLINES["400 chars"], "Ελληνικά 😀", HEADLINES["short"]] * 3
    expected = [a_card(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(a_card, texts)) == expected
