"""The doctor's settings checks: the secret key, the base URL, the lists, the database, and the
transport answering (SES GetAccount, or an SMTP session up to AUTH).
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings, parse_smtp_url
from mailer.content.lists import ListDefinition, list_slugs, load_list
from mailer.doctor.check import Check, fail, ok, one_line, warn
from mailer.doctor.probe import SETTINGS_FILE, AwsProblem, Probe
from mailer.errors import MailerError
from mailer.render.lint import LOCAL_HOSTS
from mailer.store.db import make_engine, require_schema, session_factory

STRONG_KEY = 32  # characters; secrets.token_urlsafe(32) makes 43
MIN_KEY = 16  # what the web app and a send require (Settings.require_secret_key)
MIN_DISTINCT = 10  # fewer different characters than this: a word or a pattern, not random
NEW_KEY = (
    f"set MAILER_SECRET_KEY in {SETTINGS_FILE} to the output of "
    "python3 -c 'import secrets;print(secrets.token_urlsafe(32))' (keep the old one in "
    "MAILER_OLD_SECRET_KEYS so that links already sent still work)"
)


def secret_key(settings: Settings) -> Check:
    name, key = "settings.secret_key", settings.secret_key or ""
    if len(key) < MIN_KEY:
        what = "is not set" if not key else f"has {len(key)} characters, fewer than {MIN_KEY}"
        return fail(name, f"MAILER_SECRET_KEY {what}: the web app refuses to start", NEW_KEY)
    distinct = len(set(key))
    if len(key) < STRONG_KEY or distinct < MIN_DISTINCT:
        return warn(
            name,
            f"MAILER_SECRET_KEY is weak: {len(key)} characters, {distinct} different ones "
            f"(a random key of {STRONG_KEY}+ characters cannot be guessed)",
            NEW_KEY,
        )
    return ok(name, f"MAILER_SECRET_KEY set, {len(key)} characters")


def base_url(settings: Settings) -> Check:
    """Every unsubscribe, manage and archive link starts with it: public https or readers cannot
    open them (and one-click unsubscribe, which mailbox providers POST to, cannot work)."""
    name, url = "settings.base_url", settings.base_url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    fix = (
        f"set MAILER_BASE_URL in {SETTINGS_FILE} to the public https address of the web app "
        "(its TLS proxy), e.g. https://news.example.com"
    )
    if parts.scheme != "https":
        return fail(name, f"MAILER_BASE_URL {url} is not https", fix)
    if host in LOCAL_HOSTS or host.endswith(".localhost") or _private(host):
        return fail(
            name, f"MAILER_BASE_URL {url} points to a local address no reader can open", fix
        )
    return ok(name, f"MAILER_BASE_URL {url}")


def _private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def open_lists(settings: Settings, slug: str | None) -> tuple[tuple[ListDefinition, ...], Check]:
    """The lists to check (--list SLUG, else every list in MAILER_LISTS_DIR) and what was found."""
    name = "settings.lists"
    try:
        slugs = [slug] if slug else list_slugs(settings.lists_dir)
        lists = tuple(load_list(settings.lists_dir, each) for each in slugs)
    except MailerError as exc:
        return (), fail(name, str(exc), "fix the list file named, or pass --list SLUG of a list")
    if not lists:
        return (), fail(
            name,
            f"no list file in {settings.lists_dir}",
            f"add lists/SLUG.toml (README, Files), or set MAILER_LISTS_DIR in {SETTINGS_FILE}",
        )
    names = ", ".join(f"{d.slug} (from {d.from_address})" for d in lists)
    return lists, ok(name, f"{len(lists)} list(s): {names}")


def open_database(settings: Settings) -> tuple[sessionmaker[Session] | None, Check]:
    name = "settings.database"
    try:
        engine = make_engine(settings.database_url)
        require_schema(engine)
    except MailerError as exc:
        fix = (
            "run `mailer db upgrade` as the units run it (README, Production), or fix DATABASE_URL"
        )
        return None, fail(name, one_line(exc), fix)
    return session_factory(engine), ok(
        name, f"{engine.url.render_as_string(hide_password=True)}: schema up to date"
    )


def transport(probe: Probe) -> Check:
    name, value = "settings.transport", probe.settings.transport
    if value == "file":
        return warn(
            name,
            f"MAILER_TRANSPORT is file: messages go to {probe.settings.outbox_dir}, no reader "
            "gets them",
            f"set MAILER_TRANSPORT=ses in {SETTINGS_FILE}",
        )
    if value == "ses":
        account = probe.account
        if isinstance(account, AwsProblem):
            return fail(name, f"SES does not answer: {account.detail}", account.fix)
        return ok(name, f"ses: SES in {probe.region} answers (sesv2 GetAccount)")
    return _smtp(name, probe.settings)


def _smtp(name: str, settings: Settings) -> Check:
    """An SMTP session as a send opens it (TLS, AUTH when a user is set), ended with QUIT."""
    target = parse_smtp_url(settings.transport)
    where = f"{target.host}:{target.port}"
    fix = f"check that {where} accepts connections from this machine, and MAILER_TRANSPORT"
    try:
        if target.implicit_tls:
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        with client:
            client.ehlo()
            secured = target.implicit_tls
            if (
                not secured
                and (target.starttls or settings.smtp_user)
                and client.has_extn("starttls")
            ):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
                secured = True
            if settings.smtp_user:
                if not secured:
                    return fail(name, f"{where} offers no TLS for AUTH", fix)
                client.login(settings.smtp_user, settings.smtp_password or "")
    except smtplib.SMTPAuthenticationError as exc:
        return fail(
            name,
            f"{where} refused MAILER_SMTP_USER's login: {exc.smtp_code}",
            f"set MAILER_SMTP_USER and MAILER_SMTP_PASSWORD to working SMTP credentials in "
            f"{SETTINGS_FILE}",
        )
    except (OSError, smtplib.SMTPException) as exc:  # TimeoutError is an OSError
        return fail(name, f"{where} does not answer as an SMTP server: {one_line(exc)}", fix)
    return ok(name, f"{where} answers (EHLO{', AUTH' if settings.smtp_user else ''})")
