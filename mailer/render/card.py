"""Share cards: the 1200x630 PNG that link previews show for an issue (OpenGraph `og:image`, Twitter
`summary_large_image`), drawn here with Pillow; nothing is fetched (ARCHITECTURE.md, "The archive").

The card is the mail's masthead (templates/email/newsletter.mjml.j2): on the paper colour, the date
as the mail writes it ("Wednesday, December 2, 2026", upper case, letter-spaced, muted), the
masthead name in bold ink, the tagline, the double rule, then the issue's headline in bold ink.

Choices:
- The font is Noto Serif from the `fontpkg-noto-serif` wheel (OFL), not a system font and not the
  Aileron that Pillow bundles (`ImageFont.load_default(size=...)`): Aileron has 113 characters, no
  bold, no dash, no bullet and no accented letter, so it cannot draw the list's own tagline
  ("... Intelligence • Machine Learning ...") or "Café". Noto Serif is a serif like the mail's
  Georgia, with Latin, Greek and Cyrillic in one variable font (its weight axis gives the bold).
- A character the font has no glyph for (CJK, emoji, control characters) is dropped rather than
  drawn as a box; its compatibility form is drawn if the font has that (fullwidth "ＡＩ" is "AI").
  A headline with nothing drawable leaves the headline area empty; the card never fails on text.
- Everything is measured with the font (`getbbox`, `getlength`), never by counting characters. The
  headline wraps at spaces (a word wider than the line is cut), shrinks step by step until it fits
  the lines the card has room for, and at the smallest size ends in "…" on the last line.
- Pillow's basic layout engine, not raqm: the same pixels whether or not the machine has FriBiDi.
- Deterministic: the same arguments give the same bytes. The PNG has no time or text chunks, and is
  mapped onto a fixed palette (the ramps from paper to each text colour) rather than a computed
  one, which keeps the colours exact and the file small (about 20-30 KB).
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache

import fontpkg
from PIL import Image, ImageDraw, ImageFont

CARD_SIZE = (1200, 630)
WIDTH, HEIGHT = CARD_SIZE

# The mail's colours (templates/email/newsletter.mjml.j2: paper, ink, muted, accent).
PAPER = (0xFF, 0xFF, 0xFF)
INK = (0x1A, 0x1A, 0x1A)
MUTED = (0x5F, 0x63, 0x68)
ACCENT = (0xB3, 0x26, 0x1E)

# Nothing is drawn nearer the edge than this (platforms crop and round the corners of previews).
MARGIN = 64
TOP = 52  # the date's top
BOTTOM = 56  # the headline's lowest line ends above HEIGHT - BOTTOM

FAMILY = "Noto Serif"
REGULAR, BOLD = 400, 700
# Font sizes in pixels, largest first: each text tries them in turn until it fits.
DATE_SIZES = (20, 18, 16)
DATE_TRACKING = 3  # the mail's kicker: letter-spacing 2px at 12px
MASTHEAD_SIZES = (60, 54, 48, 42, 36, 30)
TAGLINE_SIZES = (22, 20, 18, 16)
HEADLINE_SIZES = (72, 66, 60, 54, 50, 46, 42, 38, 34)
HEADLINE_PITCH = 1.2  # line pitch as a multiple of the font size
ACCENT_BAR = (56, 6)  # width, height: the accent mark above the headline
ELLIPSIS = "…"
# More text than a card holds even at the smallest size in the narrowest letters (about 700): the
# rest is dropped before anything is measured, so a hostile headline costs what a long one does.
MAX_CHARS = 1500

Measure = Callable[[str, ImageFont.FreeTypeFont], float]

# The fonts are cached and shared, and a FreeType face must not be used by two threads at once:
# the GIL serialises Pillow's calls, a free-threaded Python does not (Pillow locks them from 12.2).
_FONTS_IN_USE = threading.Lock()


def card_png(masthead: str, headline: str, date: dt.date, tagline: str = "") -> bytes:
    """A PNG 1200x630 share card (OpenGraph/Twitter summary_large_image): the masthead as the mail
    shows it and the headline below it. Same arguments, same bytes; text the font cannot draw is
    left out (see the module docstring)."""
    image = Image.new("RGB", CARD_SIZE, PAPER)
    draw = ImageDraw.Draw(image)
    with _FONTS_IN_USE:
        y = _draw_masthead(
            draw, _drawable(masthead), _drawable(date_line(date)), _drawable(tagline)
        )
        _draw_headline(draw, _drawable(headline), top=y + 40, bottom=HEIGHT - BOTTOM)
    return _png(image)


def date_line(date: dt.date) -> str:
    """The date as the mail's masthead writes it ("%A, %B %-d, %Y"), by the same strftime, so that
    the two agree whatever the locale."""
    return f"{date.strftime('%A, %B')} {date.day}, {date.year}"


# --- layout -----------------------------------------------------------------------------------


def _draw_masthead(draw: ImageDraw.ImageDraw, name: str, date: str, tagline: str) -> int:
    """Date, name, tagline and the double rule, centred; returns the y below the rule."""
    y = TOP
    y = _draw_centred(draw, y, date.upper(), REGULAR, DATE_SIZES, MUTED, _tracked) + 12
    y = _draw_centred(draw, y, name, BOLD, MASTHEAD_SIZES, INK, _ink_width) + 6
    if tagline:
        y = _draw_centred(draw, y, tagline, REGULAR, TAGLINE_SIZES, MUTED, _ink_width)
    y += 18
    # The mail's "3px double" border under the masthead, at the card's scale: two 2 px lines.
    for offset in (0, 5):
        draw.rectangle((MARGIN, y + offset, WIDTH - MARGIN - 1, y + offset + 1), fill=INK)
    return y + 7


def _draw_centred(draw, y, text, weight, sizes, fill, measure: Measure) -> int:
    """One line of text centred between the margins, shrunk (then ellipsised) to fit; returns the
    y below it."""
    if not text:
        return y
    font, text = _fit_line(text, weight, sizes, WIDTH - 2 * MARGIN, measure)
    x = (WIDTH - measure(text, font)) / 2 - _left_overhang(text, font)
    if measure is _tracked:
        _draw_tracked(draw, (x, y), text, font, fill)
    else:
        draw.text((x, y), text, font=font, fill=fill, anchor="la")
    return y + _line_height(font)


def _draw_headline(draw: ImageDraw.ImageDraw, text: str, top: int, bottom: int) -> None:
    """The accent mark, then the headline left-aligned in the box, centred in its height."""
    if not text:
        return
    bar_w, bar_h = ACCENT_BAR
    font, lines = _fit_block(text, WIDTH - 2 * MARGIN, bottom - top - 2 * bar_h)
    pitch = round(font.size * HEADLINE_PITCH)
    height = 2 * bar_h + _block_height(font, len(lines))
    y = top + (bottom - top - height) // 2
    draw.rectangle((MARGIN, y, MARGIN + bar_w - 1, y + bar_h - 1), fill=ACCENT)
    y += 2 * bar_h
    for line in lines:
        draw.text((MARGIN - _left_overhang(line, font), y), line, font=font, fill=INK, anchor="la")
        y += pitch


def _fit_line(text: str, weight: int, sizes, width: int, measure: Measure):
    """The largest size at which the text fits on one line; at the smallest, the text cut short."""
    for size in sizes:
        font = _font(size, weight)
        if measure(text, font) <= width:
            return font, text
    return font, _ellipsised(text, font, width, measure)


def _fit_block(text: str, width: int, height: int):
    """(font, lines): the largest headline size whose wrapped lines fit the box; at the smallest,
    as many lines as fit, the last one ending in an ellipsis."""
    for size in HEADLINE_SIZES:
        font = _font(size, BOLD)
        room = _lines_that_fit(font, height)
        # Quick refusal: the words' advances alone exceed the lines (an em per line to spare for
        # side bearings), so wrapping cannot fit them at this size.
        if size != HEADLINE_SIZES[-1] and font.getlength(text.replace(" ", "")) > room * (
            width + size
        ):
            continue
        lines = _wrap(text, font, width, limit=room + 1)
        if len(lines) <= room:
            return font, lines
    kept = lines[: room - 1]
    rest = " ".join(lines[room - 1 :])
    return font, [*kept, _ellipsised(rest, font, width, _ink_width, always=True)]


def _lines_that_fit(font: ImageFont.FreeTypeFont, height: int) -> int:
    n = 1
    while _block_height(font, n + 1) <= height:
        n += 1
    return n


def _block_height(font: ImageFont.FreeTypeFont, lines: int) -> int:
    return (lines - 1) * round(font.size * HEADLINE_PITCH) + _line_height(font)


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, limit: int) -> list[str]:
    """Greedy wrapping at spaces, a word wider than the line cut where it must be; it stops once
    there are more than `limit` lines (the rest could not be shown)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        for piece in _pieces(word, font, width):
            candidate = f"{line} {piece}" if line else piece
            if line and _ink_width(candidate, font) > width:
                lines.append(line)
                line = piece
                if len(lines) >= limit:
                    return lines
            else:
                line = candidate
    return [*lines, line] if line else lines


def _pieces(word: str, font: ImageFont.FreeTypeFont, width: int) -> Iterator[str]:
    """The word, or the longest runs of it that each fit the width (a URL, a very long name), one
    at a time: the wrapping stops when the card is full."""
    if _ink_width(word, font) <= width:
        yield word
        return
    while (cut := _fitting_prefix(word, font, width)) < len(word):
        yield word[:cut]
        word = word[cut:]
    yield word


def _fitting_prefix(word: str, font: ImageFont.FreeTypeFont, width: int) -> int:
    """How many characters of the word fit the width (at least one)."""
    return max(1, _longest_fitting(len(word), lambda n: _ink_width(word[:n], font) <= width))


def _ellipsised(text: str, font, width: int, measure: Measure, always: bool = False) -> str:
    """The text cut at a word (or, for a single long word, a character) so that it and "…" fit."""
    if not always and measure(text, font) <= width:
        return text
    words = text.split(" ")
    n = _longest_fitting(
        len(words), lambda n: measure(_with_ellipsis(" ".join(words[:n])), font) <= width
    )
    if n:
        return _with_ellipsis(" ".join(words[:n]))
    word = words[0]
    n = _longest_fitting(len(word), lambda n: measure(_with_ellipsis(word[:n]), font) <= width)
    return _with_ellipsis(word[: max(n, 1)])


def _with_ellipsis(text: str) -> str:
    return text.rstrip(" ,;:.-–—") + ELLIPSIS


def _longest_fitting(most: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 1..most for which fits(n) holds (0 if none), fits being monotone: doubling
    then bisection, so that the cost follows the answer rather than the length of the text."""
    if most < 1 or not fits(1):
        return 0
    good = 1
    while good < most and fits(min(2 * good, most)):
        good = min(2 * good, most)
    if good == most:
        return most
    bad = min(2 * good, most)  # the first size that did not fit
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


# --- measuring and drawing text ---------------------------------------------------------------


def _ink_width(text: str, font: ImageFont.FreeTypeFont) -> float:
    """Width of the text as drawn, from the leftmost of its origin and its ink (a serif "j" can
    start left of the origin) to the rightmost ink."""
    left, _, right, _ = font.getbbox(text, anchor="la")
    return right - min(left, 0)


def _left_overhang(text: str, font: ImageFont.FreeTypeFont) -> float:
    return min(font.getbbox(text, anchor="la")[0], 0)


def _tracked(text: str, font: ImageFont.FreeTypeFont) -> float:
    """Advance width of letter-spaced text (the date)."""
    return sum(font.getlength(ch) for ch in text) + DATE_TRACKING * (len(text) - 1)


def _draw_tracked(draw, xy, text: str, font, fill) -> None:
    x, y = xy
    for ch in text:
        draw.text((x, y), ch, font=font, fill=fill, anchor="la")
        x += font.getlength(ch) + DATE_TRACKING


@lru_cache(maxsize=64)
def _font(size: int, weight: int) -> ImageFont.FreeTypeFont:
    """Noto Serif at a size and weight (one variable font: the weight is an axis)."""
    font = ImageFont.truetype(
        str(fontpkg.path(FAMILY, weight)), size, layout_engine=ImageFont.Layout.BASIC
    )
    font.set_variation_by_axes([_axis_value(axis, weight) for axis in font.get_variation_axes()])
    return font


def _axis_value(axis: dict, weight: int) -> float:
    name = axis["name"]
    name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    return float(weight) if name.lower() in ("weight", "wght") else float(axis["default"])


# --- text the font can draw -------------------------------------------------------------------

# Control, format (zero-width joiners, bidi marks), surrogate, private-use and unassigned code
# points: never drawn.
_NEVER_DRAWN = {"Cc", "Cf", "Cs", "Co", "Cn"}
_NO_GLYPH = "\U0010ffff"  # a noncharacter: what the font draws for it is its missing-glyph box


def _drawable(text: str) -> str:
    """The text with every character the font cannot draw replaced by its compatibility form where
    the font has that, otherwise left out; whitespace runs become one space. At most MAX_CHARS."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text[: 4 * MAX_CHARS]):
        if ch.isspace():
            out.append(" ")
        elif _has_glyph(ch):
            out.append(ch)
        else:
            compatible = unicodedata.normalize("NFKC", ch)
            if compatible != ch and all(c.isspace() or _has_glyph(c) for c in compatible):
                out.append(compatible)
    return " ".join("".join(out).split())[:MAX_CHARS]


@lru_cache(maxsize=4096)
def _has_glyph(ch: str) -> bool:
    """Whether the font has a glyph for the character: Pillow does not expose the font's character
    map, so the character is drawn and compared with the missing-glyph box."""
    if unicodedata.category(ch) in _NEVER_DRAWN:
        return False
    return _glyph_print(ch) != _missing_glyph_print()


@lru_cache(maxsize=1)
def _missing_glyph_print() -> tuple:
    return _glyph_print(_NO_GLYPH)


def _glyph_print(ch: str) -> tuple:
    font = _font(32, REGULAR)
    image = Image.new("L", (96, 96))
    ImageDraw.Draw(image).text((24, 24), ch, font=font, fill=255, anchor="la")
    return font.getlength(ch), image.tobytes()


# --- the file ---------------------------------------------------------------------------------


def _png(image: Image.Image) -> bytes:
    """PNG bytes of the card on the fixed palette, optimised; Pillow writes no time or text chunk
    unless asked to."""
    indexed = image.quantize(palette=_palette(), dither=Image.Dither.NONE)
    out = io.BytesIO()
    indexed.save(out, format="PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """Paper, and from paper to each text colour in 24 steps: antialiased text lands on its own
    ramp, and the paper and the text colours stay exact."""
    colours = [PAPER]
    for colour in (INK, MUTED, ACCENT):
        colours += [_mix(PAPER, colour, step / 24) for step in range(1, 25)]
    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for colour in colours for channel in colour])
    return palette


def _mix(a: tuple, b: tuple, t: float) -> tuple:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
