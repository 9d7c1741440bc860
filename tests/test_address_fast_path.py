"""The quick address check gives exactly email-validator's verdicts: on hand-picked edge cases and
on
random mutations of them. Whatever the quick path accepts, email-validator accepts with the same
result;
what it declines goes to email-validator, so the two together decide as email-validator alone."""

from __future__ import annotations

import random

from email_validator import EmailNotValidError, validate_email

from mailer.addresses import InvalidAddress, fast_normalise, normalise_email

LOCAL_64 = "a" * 64
LABEL_63 = "b" * 63
TRICKY = [
    "plain@example.com",
    "Mixed.Case@Example.COM",
    "o'brien@example.ie",
    "a+b-c_d@sub.example.co.uk",
    "x!#$%&'*+/=?^_`{|}~-y@example.com",
    "1@example.com",
    "a@b.co",
    "a@b.c",
    "a@b.c0",
    "a@b.0c",
    "a@1.com",
    "a@b.com.",
    ".a@example.com",
    "a.@example.com",
    "a..b@example.com",
    "a@.example.com",
    "a@example..com",
    "a@-example.com",
    "a@example-.com",
    "a@ex--ample.com",
    "a@xn--bcher-kva.example",
    "a@xn--abc.com",
    "a@example.c-m",
    "a@example.co-",
    "a@example.-co",
    "a@example.123",
    "a@123.456.789.0",
    "a@[127.0.0.1]",
    "a@[IPv6:::1]",
    "a@localhost",
    "a@example",
    "a@example.local",
    "a@example.test",
    "a@example.invalid",
    "a@x.onion",
    "a@home.arpa",
    "a@example.localhost",
    "a@EXAMPLE.TEST",
    "a@test.com",
    "a@local.com",
    "a@exam_ple.com",
    "a_b@example.com",
    '"quoted"@example.com',
    '"a b"@example.com',
    "a b@example.com",
    "a@b@example.com",
    "@example.com",
    "a@",
    "a",
    "",
    "a@example.com ",
    "a\t@example.com",
    "a@exam ple.com",
    f"{LOCAL_64}@example.com",
    f"{LOCAL_64}a@example.com",
    f"a@{LABEL_63}.com",
    f"a@{LABEL_63}b.com",
    f"a@{'.'.join([LABEL_63] * 3)}.example.com",
    f"a@{'.'.join([LABEL_63] * 4)}.com",
    f"{LOCAL_64}@{'.'.join(['c' * 60] * 3)}.example",
    f"{LOCAL_64}@{'.'.join(['c' * 61] * 3)}.example",
    "é@example.com",
    "a@bücher.example",
    "a@BÜCHER.example",
    "ä.b@example.com",
    "a@example.xn--p1ai",
    "a@exämple.com",
    "a@example.com\u200b",
    "a\u00a0@example.com",
    "a@ｅxample.com",
    "a@example．com",
    "a@example.com.",
    "a@e.x.a.m.p.l.e",
    "a@1-2.3-4.ab",
    "-@example.com",
    "a-@example.com",
    "=@example.com",
    "a@example.comm-",
    "a@xn--.com",
    "a@x.xn--",
    "postmaster@example.com",
    "a.b.c.d.e.f@example.com",
]


def _validator(candidate: str) -> str | None:
    """email-validator's verdict under our rule: no SMTPUTF8 (a non-ASCII local part is refused)."""
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return f"{result.local_part}@{result.ascii_domain.lower()}"


def _ours(candidate: str) -> str | None:
    try:
        return normalise_email(candidate)
    except InvalidAddress:
        return None


def _check(candidate: str) -> bool:
    """Assert agreement; True when the quick path decided."""
    expected = _validator(candidate.strip()) if candidate.strip() else None
    quick = fast_normalise(candidate.strip())
    if quick is not None:
        assert quick == expected, (
            f"quick path says {quick!r} for {candidate!r}, email-validator {expected!r}"
        )
    assert _ours(candidate) == expected, candidate
    return quick is not None


def test_hand_picked_edge_cases_get_email_validators_verdict():
    quick = sum(_check(candidate) for candidate in TRICKY)
    assert quick >= 20  # the quick path really is taken, not just declined


def test_mutations_of_the_edge_cases_get_email_validators_verdict():
    rnd = random.Random(20261122)
    pieces = list(".-_@+'\"!#~é") + [
        "--",
        "..",
        "xn--",
        ".test",
        ".local",
        "A",
        "Z",
        "9",
        " ",
        "\t",
        "ü",
    ]
    quick = 0
    for _ in range(20_000):
        chars = list(rnd.choice(TRICKY))
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randint(0, len(chars))
            if rnd.random() < 0.5 and chars:
                del chars[min(at, len(chars) - 1)]
            else:
                chars[at:at] = rnd.choice(pieces)
        quick += _check("".join(chars))
    assert quick > 2_000


def test_display_names_quick_case_matches_the_general_rule():
    from mailer.addresses import clean_display_name

    rnd = random.Random(5)
    pieces = [
        "Ada",
        " ",
        "  ",
        "\t",
        "\n",
        "\x00",
        "\u00a0",
        "\u2003",
        "Zoë",
        "=cmd",
        "\r\n",
        "x" * 150,
    ]
    for _ in range(5_000):
        raw = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 6)))
        general = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())[:200]
        assert clean_display_name(raw) == general, repr(raw)
