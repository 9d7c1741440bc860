"""Link tokens: the send's fast TokenMaker writes exactly what itsdangerous writes, and read_token
takes both, with rotated keys, and refuses everything else."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from mailer.tokens import PURPOSES, TokenError, TokenMaker, make_token, read_token

KEY, OLD = "the-current-secret-key-0123456789", "the-previous-secret-key-0123456789"


class FrozenClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize("subscriber_id", [0, 1, 255, 256, 12345, 2**31 - 1, 2**53])
@pytest.mark.parametrize(
    "slug", ["ai-morning-post", "a", "weekend-digest-2026", "the-ai-morning-post-weekly"]
)
def test_token_maker_writes_what_itsdangerous_writes(monkeypatch, purpose, subscriber_id, slug):
    now = 1_795_000_000.7
    monkeypatch.setattr("time.time", lambda: now)  # itsdangerous reads the clock through time.time
    theirs = URLSafeTimedSerializer(KEY, salt=f"mailer.{purpose}").dumps([subscriber_id, slug])
    ours = TokenMaker(KEY, purpose, slug, clock=FrozenClock(now)).token(subscriber_id)
    assert ours == theirs
    data = read_token(KEY, purpose, ours)
    assert (data.subscriber_id, data.list_slug) == (subscriber_id, slug)


def test_a_payload_itsdangerous_would_compress_still_reads_the_same():
    slug = "x" * 64  # compressible: itsdangerous would zlib it, the maker does not need to
    token = TokenMaker(KEY, "unsubscribe", slug).token(5)
    assert not token.startswith(".")
    assert read_token(KEY, "unsubscribe", token).list_slug == slug


def test_fast_tokens_verify_after_rotation_and_only_for_their_purpose():
    token = TokenMaker(OLD, "unsubscribe", "ai-morning-post").token(7)
    assert read_token(KEY, "unsubscribe", token, old_keys=(OLD,)).subscriber_id == 7
    with pytest.raises(TokenError):
        read_token(KEY, "unsubscribe", token)  # the old key is no longer listed
    with pytest.raises(TokenError):
        read_token(OLD, "manage", token)  # another purpose
    value, signature = token.rsplit(".", 1)
    # change the signature's first character: the last one may only hold base64 padding bits
    tampered = value + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(TokenError):
        read_token(OLD, "unsubscribe", tampered)


def test_the_timestamp_follows_the_clock():
    import time

    clock = FrozenClock(time.time() - 9 * 24 * 3600)
    maker = TokenMaker(KEY, "confirm", "ai-morning-post", clock=clock)
    first = maker.token(3)
    clock.now += 8 * 24 * 3600
    later = maker.token(3)
    assert first != later
    with pytest.raises(TokenError) as expired:
        read_token(KEY, "confirm", first, max_age=7 * 24 * 3600)  # 9 days old
    assert expired.value.expired
    assert read_token(KEY, "confirm", later, max_age=7 * 24 * 3600).subscriber_id == 3  # 1 day old
    assert (
        make_token(KEY, "confirm", 3, "ai-morning-post") != first
    )  # the library path stays available


def test_unknown_purposes_are_refused():
    with pytest.raises(ValueError, match="unknown token purpose"):
        TokenMaker(KEY, "login", "ai-morning-post")


# --- counted links ---------------------------------------------------------------------------


def test_a_click_token_is_short_and_reads_back():
    from mailer.tokens import ClickToken, make_click_token, read_click_token

    click = ClickToken(send_id=2_000_000_000, position=140, handed_over=4_102_444_800)
    token = make_click_token(KEY, click)
    assert len(token) <= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert read_click_token(KEY, token) == click
    assert read_click_token("another key, rotated away", token, old_keys=(KEY,)) == click


def test_a_click_token_names_no_reader():
    from mailer.tokens import ClickToken, make_click_token

    # two readers whose messages left in the same second: the same token
    same = {make_click_token(KEY, ClickToken(7, 3, 1_800_000_000)) for _ in range(2)}
    assert len(same) == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the MAC
        lambda t: ("A" if t[0] != "A" else "B") + t[1:],  # one character of the payload
        lambda t: t[:-2],  # truncated
        lambda t: t + "AA",  # extended
        lambda t: "",
        lambda t: "x" * 12,
        lambda t: "é" * 16,
        lambda t: "!!!!!!!!!!!!!!!!",
        lambda t: t + "=",
        lambda t: "A" * 65,
    ],
)
def test_a_tampered_click_token_is_refused(mangle):
    from mailer.tokens import ClickToken, make_click_token, read_click_token

    token = make_click_token(KEY, ClickToken(7, 3, 1_800_000_000))
    with pytest.raises(TokenError):
        read_click_token(KEY, mangle(token))
    with pytest.raises(TokenError):
        read_click_token("some other key entirely", token)


def test_random_bytes_are_never_a_click_token():
    import base64
    import random

    from mailer.tokens import read_click_token

    rnd = random.Random(14)
    for _ in range(3000):
        raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(9, 40)))
        with pytest.raises(TokenError):
            read_click_token(KEY, base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_address_tokens_round_trip_expire_and_never_pass_for_link_tokens(monkeypatch):
    from mailer.tokens import AddressToken, make_address_token, read_address_token

    wanted = AddressToken(42, "ai-morning-post", "ada@new.example", 7)
    raw = make_address_token(KEY, wanted, (OLD,))
    assert read_address_token(KEY, raw, (OLD,)) == wanted
    assert read_address_token(OLD + "x", make_address_token(OLD + "x", wanted)) == wanted
    assert read_address_token(KEY, make_address_token(OLD, wanted), (OLD,)) == wanted  # rotated
    with pytest.raises(TokenError):
        read_address_token(KEY, raw[:-2] + ("A" if raw[-2] != "A" else "B") + raw[-1])
    with pytest.raises(TokenError):  # a manage link is no address token, nor the reverse
        read_address_token(KEY, make_token(KEY, "manage", 42, "ai-morning-post"))
    with pytest.raises(TokenError):
        read_token(KEY, "manage", raw)
    later = time.time() + 3 * 24 * 3600
    monkeypatch.setattr("time.time", lambda: later)
    with pytest.raises(TokenError) as expired:
        read_address_token(KEY, raw)
    assert expired.value.expired
