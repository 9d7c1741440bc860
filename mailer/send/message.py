"""RFC 5322 messages for one recipient (ARCHITECTURE.md: "Stages"): headers, text + HTML parts.

Two builders produce the same message (a test parses both and compares them):

- `build_message`: an `EmailMessage` per recipient. Simple and obviously right; the baseline.
- `MessageSkeleton`: everything that does not vary (fixed headers, MIME structure, the bodies
already
  quoted-printable encoded and split at the placeholders) is built once per send; a recipient's
  message
  is then a `b"".join` of those bytes and a few encoded values.

    multipart/alternative
    ├── text/plain                        quoted-printable
    └── multipart/related                 (only when the HTML has inline images: the QR code)
        ├── text/html                     quoted-printable
        └── image/png  Content-ID         base64
"""

from __future__ import annotations

import binascii
import datetime as dt
import html as html_lib
import re
import secrets
import time
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailer.addresses import check_deliverable, clean_display_name
from mailer.content.lists import ListDefinition
from mailer.errors import PermanentError
from mailer.render.click_links import ClickRewrite
from mailer.render.greeting import greeting_for
from mailer.render.issue import RenderedIssue
from mailer.render.qr import InlineImage, inline_images
from mailer.store.models import utcnow

# SMTP policy: CRLF line ends and folding at 78; max_line_length keeps every line within RFC 5322's
# 998.
POLICY = SMTP.clone(max_line_length=998)
# Folding at 76 for the rare `To:` the fast path leaves to the email package: it fits an
# encoded-word
# to the line, so a folded line " =?...?=" of 76 keeps the word within RFC 2047's 75 (at 78: words
# of 77).
_FOLDING = SMTP.clone(max_line_length=76)
CRLF = b"\r\n"
_URL_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_ADDR_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+@[A-Za-z0-9.\-]+")
# characters that quoted-printable and HTML escaping both leave as they are
_NEUTRAL_RE = re.compile(r"[A-Za-z0-9 !#$%()*+,\-./:;?@\[\]^_`{|}~]+")
SOFT_BREAK = b"=\r\n"
_HTML_SPECIAL_RE = re.compile(r"[&<>\"']")
_ATOMS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    email: str
    name: str
    unsubscribe_url: str
    manage_url: str
    unsubscribe_mailto: str
    message_id: (
        str  # `<...@domain>`: the ledger row's (ledger.assign_message_ids) or new_message_id()
    )
    plain_links: bool = False  # asked in /manage for links as written, not counted redirects


def new_message_id(domain: str) -> str:
    """A Message-ID no one else has used: 128 random bits. For messages outside the ledger
    (`--to`)."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def personal_values(recipient: Recipient) -> dict[str, str]:
    """The placeholder values of one recipient (plain text; the HTML part escapes them)."""
    return {
        "GREETING": greeting_for(_clean(recipient.name)),
        "UNSUBSCRIBE_URL": recipient.unsubscribe_url,
        "MANAGE_URL": recipient.manage_url,
    }


def _fixed_headers(
    msg: EmailMessage, subject: str | None, list_def: ListDefinition, send_id: int
) -> None:
    """The headers every message of a send shares; `subject` None leaves Subject to
    subject_header."""
    msg["From"] = list_def.from_header
    msg["Reply-To"] = list_def.reply_to
    if subject is not None:
        msg["Subject"] = clean_display_name(subject, limit=500)
    msg["List-Id"] = list_def.list_id
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Feedback-ID (Gmail FBL): campaign:list:sender-type:sender, stable per send.
    msg["Feedback-ID"] = f"{send_id}:{list_def.slug}:newsletter:{list_def.domain}"
    msg["Precedence"] = "bulk"


def build_message(
    *,
    subject: str,
    html: str,
    text: str,
    list_def: ListDefinition,
    send_id: int,
    recipient: Recipient,
    date: dt.datetime | None = None,
    images: tuple[InlineImage, ...] | None = None,
) -> bytes:
    """One message with the email package. `html`/`text` are already personalised."""
    msg = EmailMessage(policy=POLICY)
    msg["To"] = _to_address(header_name(recipient.name), recipient.email)
    msg["Date"] = format_datetime(date or utcnow())
    msg["Message-ID"] = recipient.message_id
    msg["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>, <{recipient.unsubscribe_mailto}>"
    _fixed_headers(msg, subject, list_def, send_id)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    images = inline_images(html) if images is None else images
    if images:
        html_part = msg.get_payload()[1]
        for image in images:
            html_part.add_related(
                image.data,
                "image",
                image.subtype,
                cid=f"<{image.cid}>",
                disposition="inline",
                filename=image.filename,
            )
    return msg.as_bytes(policy=POLICY)


# --- the fast path -------------------------------------------------------------------------------


def _qp(data: str) -> bytes:
    """Quoted-printable with CRLF line ends, ending in a soft line break, so that encoded pieces can
    be concatenated in any order and decode to the concatenation of their text."""
    data = data.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(data.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    return encoded if encoded.endswith(CRLF) else encoded + b"=" + CRLF


def _soft_lines(data: bytes) -> bytes:
    """ASCII that needs no escaping as quoted-printable lines of at most 76 characters, each ending
    in a soft line break."""
    if len(data) <= 75:
        return data + SOFT_BREAK
    if len(data) <= 150:  # most URLs: one split, no list
        return data[:75] + SOFT_BREAK + data[75:] + SOFT_BREAK
    return SOFT_BREAK.join([data[i : i + 75] for i in range(0, len(data), 75)]) + SOFT_BREAK


def _encode_value(value: str) -> tuple[bytes, bytes]:
    """(text part bytes, HTML part bytes) of one placeholder value, each ending in a soft line
    break. The value is one line (names are cleaned, URLs checked), so b2a_qp's output never ends in
    a newline."""
    if (
        _NEUTRAL_RE.fullmatch(value) and value[-1] != " "
    ):  # the common case: encodings change nothing
        encoded = _soft_lines(value.encode("ascii"))
        return encoded, encoded
    text = binascii.b2a_qp(value.encode("utf-8"), istext=True).replace(b"\n", CRLF) + SOFT_BREAK
    if not _HTML_SPECIAL_RE.search(value):
        return text, text
    return text, binascii.b2a_qp(html_lib.escape(value).encode("utf-8"), istext=True).replace(
        b"\n", CRLF
    ) + SOFT_BREAK


# URL characters that quoted-printable and HTML escaping both leave alone: _URL_RE's set without & '
# =
_PLAIN_URL_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$()*+,;%]+")


def _encode_url(value: str) -> tuple[bytes, bytes]:
    """`_encode_value(_url(value))` with one regex pass for the common URL: the hot path of every
    message carries two of them."""
    if len(value) <= 400 and _PLAIN_URL_RE.fullmatch(value):
        encoded = _soft_lines(value.encode("ascii"))
        return encoded, encoded
    return _encode_value(_url(value))


def _clean(name: str) -> str:
    return " ".join(name.split())[:200] if name.isprintable() else clean_display_name(name)


def header_name(name: str, cleaned: bool = False) -> str:
    """The display name as it goes in `To:`: cleaned of control characters, single spaces."""
    return name if cleaned else _clean(name)


# RFC 2047: an encoded-word is at most 75 characters. 45 bytes of UTF-8 make 60 of base64, a word of
# 72: "To: " and one word stay within 78 characters, as does a folded line of one word.
_WORD_BYTES = 45
_LINE = 78
# A word of a name that may go as it is next to encoded-words: atom characters but '=' and '?', so
# that
# nothing next to an encoded-word can be read as part of one.
_PLAIN_WORD_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/^_`{|}~]+")


_ATOM_WORD_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")


def _quoted(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encoded_word(data: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode("ascii") + "?="


def _encoded_words(text: str, first: int = _WORD_BYTES) -> list[str]:
    """`text` as encoded-words of at most 72 characters (the first of at most `first` bytes), cut
    between characters (a UTF-8 sequence is never split: a continuation byte, 10xxxxxx, never starts
    a word)."""
    data = text.encode("utf-8")
    words = []
    limit = first
    while len(data) > limit:
        cut = limit
        while data[cut] & 0xC0 == 0x80:
            cut -= 1
        words.append(_encoded_word(data[:cut]))
        data, limit = data[cut:], _WORD_BYTES
    words.append(_encoded_word(data))
    return words


def _phrase_words(name: str) -> list[str]:
    """The display name as the words of a phrase, written with single spaces (or folds) between
    them.

    RFC 2047 decoders drop the space between two adjacent encoded-words, so the words of a name that
    need encoding go together into one run of encoded-words, spaces inside; words that can go as
    they are stay plain between runs. Python's email parser (policy=default, up to 3.13 at least)
    instead keeps a space between adjacent encoded-words of a phrase: a name whose run needs more
    than one word (more than 45 bytes without a plain word, e.g. a long name in CJK script) reads
    there with extra spaces.
    """
    if (
        name.isascii() and "=?" not in name
    ):  # atoms, and quoted strings for the words that need them
        return [
            word if _ATOM_WORD_RE.fullmatch(word) else _quoted(word) for word in name.split(" ")
        ]
    words: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if _PLAIN_WORD_RE.fullmatch(word):
            if run:
                words += _encoded_words(" ".join(run))
                run = []
            words.append(word)
        else:
            run.append(word)
    if run:
        words += _encoded_words(" ".join(run))
    return words


def _folded(words: list[str], field: str = "To:") -> bytes:
    """`field` and `words` on lines of at most 78 characters where a word fits, folded before a
    space."""
    lines, line = [], field
    for word in words:
        if len(line) + 1 + len(word) > _LINE and line != field:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def subject_header(subject: str) -> bytes:
    """`Subject:` (cleaned: single spaces) folded at 78, non-ASCII as encoded-words of at most 75
    characters. Written here, not by the email package: at 998 it writes one word of any length, and
    folding at 78 it writes words of 77 and, reading its own folds back, loses or adds spaces."""
    if subject.isascii() and "=?" not in subject:
        return _folded(subject.split(" "), "Subject:")
    # Unstructured text: the spaces between the words are dropped. 42 bytes make a first word of 68,
    # so
    # "Subject: " and it fit in 78.
    return _folded(_encoded_words(subject, first=42), "Subject:")


def _to_address(name: str, email: str) -> Address:
    """The `To:` address, or PermanentError when no message can carry it: a row stored before the
    address rule (e.g. a non-ASCII local part) fails alone instead of stopping the send."""
    try:
        check_deliverable(email)
        return Address(display_name=name, addr_spec=email)
    except ValueError as exc:  # UndeliverableAddress, or a header defect of the email package
        raise PermanentError(f"cannot send to {email[:80]!r}: {exc}") from None


def _slow_to(name: str, email: str) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["To"] = _to_address(name, email)
    return msg.as_bytes(policy=_FOLDING).split(CRLF + CRLF, 1)[0] + CRLF


def to_header(name: str, email: str, cleaned: bool = False) -> bytes:
    """`To:` for one address. The name is cleaned (no control characters), then sent as atoms, a
    quoted string, or encoded-words: no byte of it can end the header, start another, or add an
    address."""
    name = header_name(name, cleaned)
    if not _ADDR_RE.fullmatch(email):  # internationalised local part and other rarities
        return _slow_to(name, email)
    if not name:
        return b"To: " + email.encode("ascii") + CRLF
    if len(name) + len(email) > 71:
        return _folded([*_phrase_words(name), f"<{email}>"])
    # One line (most names), one phrase word: as _phrase_words would write it, without the split.
    if name.isascii() and "=?" not in name:
        phrase = name if _ATOMS_RE.fullmatch(name) else _quoted(name)
    else:
        data = name.encode("utf-8")
        if len(data) > _WORD_BYTES:
            return _folded([*_phrase_words(name), f"<{email}>"])
        phrase = _encoded_word(data)
    if len(phrase) + len(email) > 71:
        return f"To: {phrase}\r\n <{email}>\r\n".encode("ascii")
    return f"To: {phrase} <{email}>\r\n".encode("ascii")


def _url(value: str) -> str:
    if not _URL_RE.fullmatch(value) or len(value) > 400:
        raise ValueError(f"not a URL fit for a header: {value[:80]!r}")
    return value


def _merge(pieces: list[bytes | str]) -> list[bytes | str]:
    """Adjacent literal bytes as one piece: fewer pieces to join per message."""
    merged: list[bytes | str] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


_SLOT_ORDER = (
    "TO",
    "DATE",
    "MSGID",
    "LISTUNSUB",
    "T:GREETING",
    "H:GREETING",
    "T:UNSUBSCRIBE_URL",
    "H:UNSUBSCRIBE_URL",
    "T:MANAGE_URL",
    "H:MANAGE_URL",
)


@dataclass(frozen=True)
class _Layout:
    """A message's pieces with only the recipient's slots left: (piece index, _SLOT_ORDER index)."""

    pieces: list[bytes | str]
    slots: list[tuple[int, int]]

    @classmethod
    def of(cls, pieces: list[bytes | str], fill: dict[str, bytes] | None = None) -> _Layout:
        """`pieces` with the slots `fill` names filled in, literal bytes merged."""
        if fill:
            pieces = _merge([fill.get(p, p) if isinstance(p, str) else p for p in pieces])
        slots = [(i, _SLOT_ORDER.index(p)) for i, p in enumerate(pieces) if isinstance(p, str)]
        return cls(pieces, slots)


class MessageSkeleton:
    """The bytes of one send's messages that do not vary, with slots for what does.

    A send with click tracking (`clicks`) has a slot per content link too. Its counted links
    differ only with the second of hand-over (click_links.ClickRewrite; never per reader), so
    they are filled in once per second, as the Date line is: a message costs what it costs
    without them. A reader with plain links gets the links as the render has them.
    """

    def __init__(
        self,
        rendered: RenderedIssue,
        list_def: ListDefinition,
        send_id: int,
        clicks: ClickRewrite | None = None,
    ):
        boundary = "=_mailer_" + secrets.token_hex(12)  # '=_' never occurs in QP or base64 output
        html_parts, text_parts = rendered.html_parts(), rendered.text_parts()
        if clicks is not None:
            html_parts, text_parts = clicks.parts(rendered)
        fixed = EmailMessage(policy=POLICY)
        _fixed_headers(fixed, None, list_def, send_id)
        fixed["MIME-Version"] = "1.0"
        fixed["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        pieces: list[bytes | str] = [
            fixed.as_bytes(policy=POLICY).split(CRLF + CRLF, 1)[0] + CRLF,
            subject_header(clean_display_name(rendered.subject, limit=500)),
            "TO",
            "DATE",
            "MSGID",
            "LISTUNSUB",
            CRLF,
        ]
        pieces += [f"--{boundary}\r\n".encode(), *self._part_head("plain")]
        pieces += self._body(text_parts, "T:")
        images = inline_images(rendered.html)
        related = "=_related_" + secrets.token_hex(12)
        if images:
            pieces.append(
                f'\r\n--{boundary}\r\nContent-Type: multipart/related; boundary="{related}"\r\n\r\n'
                f"--{related}\r\n".encode()
            )
        else:
            pieces.append(f"\r\n--{boundary}\r\n".encode())
        pieces += [*self._part_head("html"), *self._body(html_parts, "H:")]
        for image in images:
            pieces.append(self._image(related, image))
        if images:
            pieces.append(f"\r\n--{related}--\r\n".encode())
        pieces.append(f"\r\n--{boundary}--\r\n".encode())
        pieces = _merge(pieces)
        self._clicks = clicks
        self._date_stamp: tuple[int, bytes] = (-1, b"")  # one tuple: threads share a skeleton
        if clicks is None:
            self._layout = _Layout.of(pieces)
            return
        self._pieces = pieces
        self._plain = _Layout.of(pieces, self._written_links(clicks))
        self._counted_stamp: tuple[int, _Layout | None] = (-1, None)

    @staticmethod
    def _written_links(clicks: ClickRewrite) -> dict[str, bytes]:
        fill = {}
        for position in clicks.positions:
            text, html_source = clicks.written(position)
            fill[f"T:L{position}"], fill[f"H:L{position}"] = _qp(text), _qp(html_source)
        return fill

    def _counted(self, second: int) -> _Layout:
        """The layout whose links are counted ones handed over in `second`, made once a second."""
        stamp = self._counted_stamp
        if stamp[0] != second or stamp[1] is None:
            fill = {}
            for position in self._clicks.positions:
                text, html = _encode_value(self._clicks.url(position, second))
                fill[f"T:L{position}"], fill[f"H:L{position}"] = text, html
            stamp = self._counted_stamp = (second, _Layout.of(self._pieces, fill))
        return stamp[1]

    @staticmethod
    def _part_head(subtype: str) -> list[bytes]:
        return [
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode()
        ]

    @staticmethod
    def _body(parts: tuple[str, ...], prefix: str) -> list[bytes | str]:
        if not parts[-1].endswith("\n"):  # as EmailMessage.set_content does
            parts = (*parts[:-1], parts[-1] + "\n")
        out: list[bytes | str] = [_qp(p) if i % 2 == 0 else prefix + p for i, p in enumerate(parts)]
        return out

    @staticmethod
    def _image(boundary: str, image: InlineImage) -> bytes:
        data = binascii.b2a_base64(image.data, newline=False)
        lines = CRLF.join(data[i : i + 76] for i in range(0, len(data), 76))
        return (
            (
                f"\r\n--{boundary}\r\nContent-Type: image/{image.subtype}\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                f'Content-Disposition: inline; filename="{image.filename}"\r\n'
                f"Content-ID: <{image.cid}>\r\n\r\n"
            ).encode()
            + lines
            + CRLF
        )

    def _date(self, now: dt.datetime | None) -> tuple[int, bytes]:
        """(the Unix second, the Date line) of a message made now, or dated `now`."""
        if now is not None:
            return int(now.timestamp()), f"Date: {format_datetime(now)}\r\n".encode()
        second = int(time.time())
        stamp = self._date_stamp
        if second != stamp[0]:
            current = dt.datetime.fromtimestamp(second, dt.UTC)
            stamp = self._date_stamp = (second, f"Date: {format_datetime(current)}\r\n".encode())
        return stamp

    def _layout_for(self, recipient: Recipient, second: int) -> _Layout:
        if self._clicks is None:
            return self._layout
        return self._plain if recipient.plain_links else self._counted(second)

    def message(self, recipient: Recipient, date: dt.datetime | None = None) -> bytes:
        """One recipient's message; `date` (tests) dates it, and its counted links with it: the
        hand-over second of a click token is the message's Date."""
        name = _clean(recipient.name)
        unsubscribe, mailto = recipient.unsubscribe_url, _url(recipient.unsubscribe_mailto)
        greeting_t, greeting_h = _encode_value(greeting_for(name))
        unsubscribe_t, unsubscribe_h = _encode_url(unsubscribe)
        manage_t, manage_h = _encode_url(recipient.manage_url)
        second, date_line = self._date(date)
        values = (  # in _SLOT_ORDER
            to_header(name, recipient.email, cleaned=True),
            date_line,
            f"Message-ID: {recipient.message_id}\r\n".encode(),
            f"List-Unsubscribe: <{unsubscribe}>, <{mailto}>\r\n".encode(),
            greeting_t,
            greeting_h,
            unsubscribe_t,
            unsubscribe_h,
            manage_t,
            manage_h,
        )
        layout = self._layout_for(recipient, second)
        pieces = layout.pieces.copy()
        for index, slot in layout.slots:
            pieces[index] = values[slot]
        return b"".join(pieces)
