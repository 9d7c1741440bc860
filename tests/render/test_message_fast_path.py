"""The skeleton fast path produces the same message as EmailMessage, for every kind of
subscriber."""

from __future__ import annotations

import datetime as dt
import email
from email.header import decode_header, make_header
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import parseaddr

import pytest

from mailer.send.message import (
    MessageSkeleton,
    Recipient,
    build_message,
    header_name,
    personal_values,
)
from tests.render.conftest import LIST, make_subscribers

DATE = dt.datetime(2026, 11, 20, 6, 30, tzinfo=dt.UTC)


def recipient(i: int, address: str, name: str) -> Recipient:
    token = f"tok{i}.ABC-_xyz"
    return Recipient(
        delivery_id=i,
        email=address,
        name=name,
        unsubscribe_url=f"https://news.example/unsubscribe/{token}",
        manage_url=f"https://news.example/manage/{token}",
        unsubscribe_mailto=f"mailto:unsubscribe@aimorningpost.example?subject=unsubscribe%20{token}",
        message_id=f"<{i:032x}@aimorningpost.example>",
    )


def baseline(rendered, r: Recipient) -> bytes:
    html, text = rendered.personalize(personal_values(r))
    return build_message(
        subject=rendered.subject,
        html=html,
        text=text,
        list_def=LIST,
        send_id=7,
        recipient=r,
        date=DATE,
    )


def summary(raw: bytes) -> dict:
    """What a reader's client sees: every header (decoded, unfolded) and every leaf part decoded."""
    msg = email.message_from_bytes(raw, policy=default_policy)
    headers = sorted(
        (k.lower(), str(v)) for k, v in msg.items() if k.lower() not in ("content-type", "to")
    )
    # `To:` as an RFC 2047 decoder reads it: policy=default keeps a space between adjacent
    # encoded-words
    # (see test_display_names), and the two paths cut a long name into words at different places.
    assert len(msg["To"].addresses) == 1
    name, address = parseaddr(email.message_from_bytes(raw, policy=compat32)["To"])
    to = [(str(make_header(decode_header(name))), address)]
    parts = []
    for part in msg.walk():
        item = (part.get_content_type(), part.get("Content-ID"), part.get_content_disposition())
        if not part.is_multipart():
            item += (part.get_content(),)
        parts.append(item)
    return {"headers": headers, "to": to, "parts": parts, "defects": [str(d) for d in msg.defects]}


def test_fast_path_equals_email_message_for_1000_subscribers(seed_renders):
    rendered = seed_renders[2]
    skeleton = MessageSkeleton(rendered, LIST, send_id=7)
    for i, (address, name) in enumerate(make_subscribers(1000)):
        r = recipient(i, address, name)
        fast = skeleton.message(r, date=DATE)
        ours, theirs = summary(fast), summary(baseline(rendered, r))
        assert ours["to"] == [(header_name(name), address)], repr(name)
        if "=?" in name:
            # EmailMessage writes such a name raw, so parsers decode it as an encoded-word (a
            # display
            # name that changes on the way); the fast path encodes it, and it arrives as written.
            ours, theirs = (
                {k: v for k, v in s.items() if k not in ("to", "headers")} for s in (ours, theirs)
            )
        assert ours == theirs, repr(name)
        assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
        assert b"\n" not in fast.replace(b"\r\n", b"") and b"\r" not in fast.replace(b"\r\n", b"")
        headers = fast.split(b"\r\n\r\n", 1)[0]
        assert headers.count(b"\r\nTo:") == 1 and b"\r\nBcc:" not in headers and b"\x00" not in fast


@pytest.mark.parametrize("index", range(5))
def test_every_seed_issue_has_the_same_structure_on_both_paths(seed_renders, index):
    rendered = seed_renders[index]
    r = recipient(1, "ada@example.com", "Ada Lovelace")
    fast = summary(MessageSkeleton(rendered, LIST, send_id=7).message(r, date=DATE))
    assert fast == summary(baseline(rendered, r))
    types = [p[0] for p in fast["parts"]]
    assert types == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    assert not fast["defects"]


def test_hostile_name_stays_one_recipient():
    from mailer.send.message import to_header

    line = to_header("Eve\r\nBcc: victim@example.com, <x@y>", "evil@example.com")
    msg = email.message_from_bytes(line + b"Subject: x\r\n\r\n", policy=default_policy)
    assert [a.addr_spec for a in msg["To"].addresses] == ["evil@example.com"] and msg["Bcc"] is None


def test_values_that_are_not_urls_are_refused(seed_renders):
    skeleton = MessageSkeleton(seed_renders[0], LIST, send_id=7)
    bad = Recipient(
        1,
        "a@example.com",
        "A",
        "https://x.example/u\r\nBcc: x@y",
        "https://x.example/m",
        "mailto:u@x",
        "<m1@x.example>",
    )
    with pytest.raises(ValueError):
        skeleton.message(bad)


URL_SHAPES = {
    "short": "https://n.example/u/t",
    "75 characters": "https://news.example/u/" + "a" * 52,
    "76 characters": "https://news.example/u/" + "a" * 53,
    "150 characters": "https://news.example/u/" + "b" * 127,
    "151 characters": "https://news.example/u/" + "b" * 128,
    "320 characters": "https://news.example/u/" + "c" * 297,
    "query with & and =": "https://news.example/u?list=ai&token=abc.def_-~&x=%20y",
    "apostrophe": "https://news.example/u/o'brien",
    "ends in =": "https://news.example/u?t=" + "d" * 70 + "=",
}


@pytest.mark.parametrize("shape", URL_SHAPES)
def test_urls_of_every_shape_decode_the_same_on_both_paths(seed_renders, shape):
    url = URL_SHAPES[shape]
    r = Recipient(
        3,
        "ada@example.com",
        "Ada",
        url,
        url.replace("/u", "/m", 1),
        "mailto:u@news.example?subject=x",
        "<m3@x.example>",
    )
    fast = MessageSkeleton(seed_renders[0], LIST, send_id=7).message(r, date=DATE)
    assert summary(fast) == summary(baseline(seed_renders[0], r))
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998
    soft_broken = [
        line for line in fast.split(b"\r\n\r\n", 1)[1].split(b"\r\n") if line.endswith(b"=")
    ]
    assert max(len(line) for line in soft_broken) <= 76  # quoted-printable's limit


def test_a_url_too_long_for_a_header_is_refused(seed_renders):
    skeleton = MessageSkeleton(seed_renders[0], LIST, send_id=7)
    long_url = "https://news.example/u/" + "a" * 400
    with pytest.raises(ValueError, match="not a URL fit for a header"):
        skeleton.message(
            Recipient(
                1,
                "a@example.com",
                "A",
                long_url,
                "https://x.example/m",
                "mailto:u@x",
                "<m1@x.example>",
            )
        )
