"""Display names in `To:` as two different MIME parsers read them back: Python's email package with
policy=default (the header registry) and with compat32 (email.utils.parseaddr, then
email.header.decode_header, which follows RFC 2047 on the space between encoded-words).

RFC 2047: an encoded-word is at most 75 characters, and a decoder ignores the space between two
adjacent encoded-words. policy=default keeps that space (CPython, up to 3.13 at least), so a name
only
reads back exactly there when each run of words needing encoding fits one encoded-word (45 bytes of
UTF-8); beyond that it differs from the name in spaces only."""

from __future__ import annotations

import base64
import email
import re
from email.header import decode_header, make_header
from email.policy import compat32, default
from email.utils import parseaddr

import pytest

from mailer.send.message import header_name, to_header
from tests.render.conftest import HOSTILE_NAMES, make_subscribers

ENCODED_WORD = re.compile(rb"=\?([^?]*)\?([bBqQ])\?([^?]*)\?=")
ADJACENT_WORDS = re.compile(rb"\?=\s+=\?")
EDGES = [
    "Zoë Ñúñez-García de la Fuente",
    "王" * 40,
    "a" * 44 + "é",
    "é" * 22 + "a",
    "🙂" * 12,
    "a" * 43 + "😀b",
    "Lamarr, Hedy " * 12,
    'Tim "TimBL" Berners-Lee, Director of the World Wide Web Consortium (W3C) ' * 2,
    "plain words only " * 15,
    'Ünïcödé, "quoted" <and> & more ' * 6,
    "=?utf-8?b?QQ==?= =?utf-8?b?Qg==?=",
    "x" * 200,
    "José",
    "König der Löwen und der Bücher",
    "Ω" * 100,
]
NAMES = HOSTILE_NAMES + EDGES + [name for _, name in make_subscribers(2000, seed=11)]


def read_back(header: bytes):
    raw = header + b"Subject: x\r\n\r\nbody\r\n"
    modern = email.message_from_bytes(raw, policy=default)
    legacy = email.message_from_bytes(raw, policy=compat32)
    assert len(modern.get_all("To")) == 1 and len(modern["To"].addresses) == 1
    name, address = parseaddr(legacy["To"])
    return modern["To"].addresses[0], (str(make_header(decode_header(name))), address)


@pytest.mark.parametrize(
    "address", ["reader@example.com", "a.rather.long.local.part+tag@mail.subdomain.example.org"]
)
def test_names_decode_back_on_both_parsers_in_short_encoded_words_and_lines(address):
    exact_on_default = 0
    for name in NAMES:
        header = to_header(name, address)
        expected = header_name(name)
        modern, (legacy_name, legacy_address) = read_back(header)
        assert (legacy_name, legacy_address) == (expected, address), (name, header)
        assert modern.addr_spec == address
        if ADJACENT_WORDS.search(header):
            assert modern.display_name.replace(" ", "") == expected.replace(" ", ""), (name, header)
        else:
            assert modern.display_name == expected, (name, header)
            exact_on_default += 1
        for charset, kind, text in ENCODED_WORD.findall(header):
            word = b"=?%s?%s?%s?=" % (charset, kind, text)
            assert len(word) <= 75, header
            base64.b64decode(text).decode(
                "utf-8"
            )  # strict: no word starts or ends inside a character
        lines = header.split(b"\r\n")[:-1]
        for index, line in enumerate(lines):
            # longer only when one word cannot be cut (an address, or a name without a space)
            assert len(line) <= 78 or len(line.split()) == (2 if index == 0 else 1), (name, header)
    assert exact_on_default > len(NAMES) * 0.6


def test_a_long_name_goes_in_many_short_words_not_one_of_812_characters():
    header = to_header("é" * 200, "reader@example.com")
    words = ENCODED_WORD.findall(header)
    assert len(words) == 10 and read_back(header)[1] == ("é" * 200, "reader@example.com")


def test_a_cut_never_falls_inside_a_character():
    for filler in range(40, 46):
        for char in ("é", "中", "😀"):
            name = "a" * filler + char * 3
            header = to_header(name, "reader@example.com")
            for _, _, text in ENCODED_WORD.findall(header):
                base64.b64decode(text).decode("utf-8")
            assert read_back(header)[1][0] == name


@pytest.mark.parametrize(
    "subject",
    [
        "Über die KI-Revolution: Sprachmodelle für Ärzte, Anwälte und Lehrer – was sich ändert und "
        "warum es zählt",
        "人工智能" * 40,
        "😀 " * 60 + "end",
        ("Plain ASCII subject " * 12).strip(),
    ],
)
def test_the_subject_goes_in_short_encoded_words_too(seed_renders, subject):
    import dataclasses

    from mailer.send.message import MessageSkeleton
    from tests.render.conftest import LIST
    from tests.render.test_message_fast_path import recipient

    rendered = dataclasses.replace(seed_renders[0], subject=subject)
    raw = MessageSkeleton(rendered, LIST, send_id=7).message(recipient(1, "ada@example.com", "Ada"))
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(b" "))
    field = b"\r\n".join(lines[start:end])
    assert all(len(b"=?%s?%s?%s?=" % word) <= 75 for word in ENCODED_WORD.findall(field)), field
    assert all(len(line) <= 78 for line in lines[start:end]), field
    assert email.message_from_bytes(raw, policy=default)["Subject"] == subject
    folded = email.message_from_bytes(raw, policy=compat32)["Subject"]
    assert str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", folded)))) == subject
