"""The preference centre (ARCHITECTURE.md, "Preferences"): /manage/<token> and its forms, the
reader's data as JSON (/manage/<token>/export), and the confirmation of a new address
(/address/<token>).

Like every route, a GET changes nothing (mail scanners open every link); each form posts to its
page with a form token (forms.py) scoped to the person and list, or to the address request, and
the browser's word that the post is not another site's. The changes themselves are library calls
(audience/preferences.py, lifecycle.py): compare-and-set, a consent event only when something
changed, so a repeated post records nothing.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, current_app, request, url_for

from mailer.addresses import InvalidAddress, normalise_email
from mailer.archive import pages
from mailer.audience import lifecycle, personal_data, preferences
from mailer.audience.preferences import AddressOutcome
from mailer.content.lists import ListDefinition
from mailer.store.db import transaction
from mailer.store.models import Cadence
from mailer.tokens import (
    TEST_SUBSCRIBER_ID,
    AddressToken,
    TokenData,
    TokenError,
    make_address_token,
    read_address_token,
)
from mailer.web.address_mail import address_message
from mailer.web.forms import cross_site, form_token, form_token_valid, origin_of
from mailer.web.views import (
    EMAIL_MAX,
    NAME_MAX,
    bad_link,
    factory,
    list_def,
    message,
    page,
    settings,
    unsubscribe_lists,
    unsubscribed_page,
    verify,
    visitor,
)

manage = Blueprint("manage", __name__)
_LINK_CHOICES = {"plain": True, "counted": False}  # the links form's `links` field
_LINK_NOTICES = {
    True: "Saved: your mails will carry links as written, and your clicks are not counted.",
    False: "Saved: links in your mails go through our counted redirect again.",
}
_DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def _scope(data: TokenData) -> str:
    """The form token's scope: one person's page of one list (a slug never contains ':')."""
    return f"manage:{data.subscriber_id}:{data.list_slug}"


def foreign_post(scope: str, slug: str) -> Response | None:
    """A 403 page unless the post came from our page, opened within a day (forms.py); else
    None."""
    s = settings()
    own = {origin_of(s.base_url), origin_of(request.host_url)}
    if cross_site(request.headers, own) is None and form_token_valid(
        s.secret_key, request.form.get("form_token", ""), scope, s.old_secret_keys
    ):
        return None
    return message(
        "Please use the form on this page",
        "This request did not come from this page, or the page was open for more than a day. "
        "Open the link in your mail again and use the form there.",
        status=403,
        list_slug=slug,
    )


def _not_understood(slug: str) -> Response:
    return message(
        "Not understood",
        "That choice is not one this page offers; open the link in your mail again.",
        status=400,
        list_slug=slug,
    )


def _long_date(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


# --- the page ------------------------------------------------------------------------------------


def manage_page(
    token: str, data: TokenData, notice: str | None = None, error: str | None = None, status=200
) -> Response:
    definition = list_def(data.list_slug)
    today = preferences.local_today(definition)
    with factory()() as session:
        rows = lifecycle.subscribed_lists(session, data.subscriber_id)
        list_id = lifecycle.list_id_of(session, data.list_slug)
        prefs = preferences.preferences_of(session, data.subscriber_id, list_id)
    paused = prefs.paused_until if prefs.paused_until and prefs.paused_until > today else None
    s = settings()
    offered = preferences.cadences(definition)
    return page(
        "manage.html",
        status,
        slug=data.list_slug,
        list_name=definition.name,
        lists=[{"name": name, "status": status} for _id, _slug, name, status in rows],
        action=url_for("manage.manage_post", token=token),
        export_url=url_for("manage.export", token=token),
        form_token=form_token(s.secret_key, _scope(data), s.old_secret_keys),
        counting=pages.COUNTING if definition.analytics.clicks else None,
        plain_links=prefs.plain_links,
        confirmed=prefs.status == "confirmed",
        name=prefs.name,
        email=prefs.email,
        name_max=NAME_MAX,
        email_max=EMAIL_MAX,
        paused_until=_long_date(paused) if paused else None,
        pause_weeks=preferences.PAUSE_WEEKS,
        # The choice is shown where the digest is offered, or to a weekly reader (so they can go
        # back to daily issues after the list's digest was switched off).
        cadences=offered if len(offered) > 1 or prefs.cadence != Cadence.DAILY else (),
        cadence=prefs.cadence,
        digest_day=_DAY_NAMES[definition.digest.day],
        notice=notice,
        error=error,
    )


@manage.get("/manage/<token>")
def manage_get(token: str):
    try:
        data = verify("manage", token)
    except TokenError:
        return bad_link()
    return manage_page(token, data)


@manage.get("/manage/<token>/export")
def export(token: str):
    """The reader's data as a JSON download (personal_data.py), the document `mailer subscribers
    show EMAIL --json` prints. A GET that only reads."""
    try:
        data = verify("manage", token)
    except TokenError:
        return bad_link()
    list_def(data.list_slug)
    document = None
    if data.subscriber_id != TEST_SUBSCRIBER_ID:
        with factory()() as session:
            document = personal_data.personal_data(session, data.subscriber_id)
    if document is None:
        return message("Not found", "We hold no data for this link.", status=404)
    return Response(
        personal_data.as_json(document),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{data.list_slug}-my-data.json"'},
    )


# --- the forms -----------------------------------------------------------------------------------


@manage.post("/manage/<token>")
def manage_post(token: str):
    """One form per post, told apart by its field: `links`, `name`, `email` (a new address),
    `pause` (weeks, or "resume"), `cadence`, `scope` (unsubscribe this list or all)."""
    try:
        data = verify("manage", token)
    except TokenError:
        return bad_link()
    definition = list_def(data.list_slug)
    refused = foreign_post(_scope(data), data.list_slug)
    if refused is not None:
        return refused
    if "scope" in request.form:
        everything = request.form.get("scope") == "all"
        unsubscribe_lists(data, everything, "web")  # nothing for a test link (views.py)
        return unsubscribed_page(data, everything)
    if data.subscriber_id == TEST_SUBSCRIBER_ID:
        # A test link (mailer doctor, send --to) belongs to no one: no form changes anything.
        return manage_page(token, data)
    for field, change in _CHANGES:
        if field in request.form:
            return change(token, data, definition, request.form[field])
    return _not_understood(data.list_slug)


def _links(token: str, data: TokenData, _definition: ListDefinition, choice: str) -> Response:
    if choice not in _LINK_CHOICES:
        return _not_understood(data.list_slug)
    plain = _LINK_CHOICES[choice]
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        lifecycle.set_plain_links(session, data.subscriber_id, plain, list_id, visitor())
    return manage_page(token, data, notice=_LINK_NOTICES[plain])


def _name(token: str, data: TokenData, _definition: ListDefinition, name: str) -> Response:
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        preferences.change_name(session, data.subscriber_id, list_id, name[:NAME_MAX], visitor())
        saved = preferences.preferences_of(session, data.subscriber_id, None).name
    notice = f"Saved: we greet you as {saved}." if saved else "Saved: we greet you without a name."
    return manage_page(token, data, notice=notice)


def _pause(token: str, data: TokenData, definition: ListDefinition, value: str) -> Response:
    """`value`: 1, 2 or 4 (weeks from today in the list's time zone), or "resume"."""
    today = preferences.local_today(definition)
    weeks = int(value) if value.isdigit() else 0
    if value != "resume" and weeks not in preferences.PAUSE_WEEKS:
        return _not_understood(data.list_slug)
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        if list_id is not None and value == "resume":
            preferences.resume(session, data.subscriber_id, list_id, today, visitor())
        elif list_id is not None:
            preferences.pause(session, data.subscriber_id, list_id, weeks, today, visitor())
    if value == "resume":
        return manage_page(token, data, notice="Welcome back: your mail comes as before.")
    until = _long_date(today + dt.timedelta(weeks=weeks))
    notice = f"Paused: {definition.name} starts again on {until}."
    return manage_page(token, data, notice=notice)


def _cadence(token: str, data: TokenData, definition: ListDefinition, value: str) -> Response:
    if value not in preferences.cadences(definition):
        return _not_understood(data.list_slug)
    cadence = Cadence(value)
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        if list_id is not None:
            preferences.set_cadence(
                session, data.subscriber_id, list_id, definition, cadence, visitor()
            )
    notice = (
        f"Saved: the weekly digest every {_DAY_NAMES[definition.digest.day]}, no daily issues."
        if cadence == Cadence.WEEKLY
        else "Saved: every issue, as it comes out."
    )
    return manage_page(token, data, notice=notice)


def _address(token: str, data: TokenData, definition: ListDefinition, raw: str) -> Response:
    """A new address asked for: its confirmation mailed to it (unless it may not be mailed; the
    page says the same either way), the rate limit of the subscribe form applied (each request
    sends a mail to an address of the poster's choice)."""
    try:
        new_email = normalise_email(raw[:EMAIL_MAX])
    except InvalidAddress as exc:
        return manage_page(token, data, error=f"Please check the new address: {exc}.", status=400)
    ctx = current_app.extensions["mailer"]
    with transaction(factory()) as session:
        allowed = ctx["limiter"].allow(request.remote_addr or "?", session)
        list_id = lifecycle.list_id_of(session, data.list_slug)
        asked = (
            preferences.request_address_change(
                session, data.subscriber_id, list_id, new_email, visitor()
            )
            if allowed
            else None
        )
    if asked is None:
        return message("Too many requests", "Please wait a few minutes and try again.", status=429)
    if asked.outcome == AddressOutcome.SAME:
        return manage_page(token, data, notice=f"{new_email} is your address already.")
    if asked.outcome == AddressOutcome.GONE:
        return bad_link()
    if asked.outcome == AddressOutcome.REQUESTED:
        _mail_address_link(definition, data, new_email, asked.request_id)
    return manage_page(
        token,
        data,
        notice=f"Almost done: we sent a link to {new_email}. Open it there to confirm; until "
        "then your mail keeps coming to your current address.",
    )


def _mail_address_link(
    definition: ListDefinition, data: TokenData, new_email: str, request_id: int
) -> None:
    s = settings()
    wanted = AddressToken(data.subscriber_id, data.list_slug, new_email, request_id)
    signed = make_address_token(s.secret_key, wanted, s.old_secret_keys)
    url = s.base_url + url_for("manage.address_page", token=signed)
    current_app.extensions["mailer"]["outbound"].submit(
        lambda: address_message(definition, new_email, url, request_id)
    )


_CHANGES = (
    ("links", _links),
    ("name", _name),
    ("email", _address),
    ("pause", _pause),
    ("cadence", _cadence),
)


# --- the new address's confirmation --------------------------------------------------------------


def _address_token(raw: str) -> AddressToken | Response:
    s = settings()
    try:
        return read_address_token(s.secret_key, raw, s.old_secret_keys)
    except TokenError as exc:
        if exc.expired:
            return message(
                "This link has expired",
                "Links to confirm a new address work for 2 days. Ask again from the "
                "“Your address” form of the page linked at the end of every mail from us.",
                status=410,
            )
        return bad_link()


@manage.get("/address/<token>")
def address_page(token: str):
    """One button and no change (scanners open links; someone else may have typed the address)."""
    wanted = _address_token(token)
    if isinstance(wanted, Response):
        return wanted
    definition = list_def(wanted.list_slug)
    s = settings()
    return page(
        "address.html",
        slug=wanted.list_slug,
        list_name=definition.name,
        new_email=wanted.new_email,
        action=url_for("manage.address_post", token=token),
        form_token=form_token(s.secret_key, f"address:{wanted.request_id}", s.old_secret_keys),
    )


_ADDRESS_PAGES = {
    AddressOutcome.CHANGED: (200, "Your address is changed", "From now on {list} comes to {new}."),
    AddressOutcome.DONE_BEFORE: (
        200,
        "Your address is changed",
        "From now on {list} comes to {new}.",
    ),
    AddressOutcome.SAME: (200, "This is your address already", "{list} comes to {new}."),
    AddressOutcome.SUPERSEDED: (
        410,
        "This link is no longer valid",
        "Another change of address was asked for after this one. Use the link in the most "
        "recent mail from us.",
    ),
    AddressOutcome.GONE: (
        410,
        "This link is no longer valid",
        "There is no subscription to move any more.",
    ),
    AddressOutcome.TAKEN: (
        409,
        "This address has a subscription of its own",
        "{new} already receives mail from us, so the two cannot be merged here. Unsubscribe one "
        "of them with the link in its mails, then ask for the change again.",
    ),
    AddressOutcome.SUPPRESSED: (
        409,
        "We cannot send mail to this address",
        "Mail to {new} bounced or was reported before, so we do not send to it. Please choose "
        "another address.",
    ),
}


@manage.post("/address/<token>")
def address_post(token: str):
    wanted = _address_token(token)
    if isinstance(wanted, Response):
        return wanted
    definition = list_def(wanted.list_slug)
    refused = foreign_post(f"address:{wanted.request_id}", wanted.list_slug)
    if refused is not None:
        return refused
    outcome = AddressOutcome.GONE
    if wanted.subscriber_id != TEST_SUBSCRIBER_ID:
        with transaction(factory()) as session:
            list_id = lifecycle.list_id_of(session, wanted.list_slug)
            outcome = preferences.apply_address_change(session, wanted, list_id, visitor())
    status, heading, text = _ADDRESS_PAGES[outcome]
    return message(
        heading,
        text.format(list=definition.name, new=wanted.new_email),
        status=status,
        list_slug=wanted.list_slug,
    )
