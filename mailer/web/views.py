"""Routes. A GET never changes state (link scanners follow GETs); every change is a POST.

Pages never say whether an address is known, subscribed or suppressed: the answer to a subscribe
request is the same in every case, and a bad link is a 400 page that names no address.
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import text

from mailer.addresses import InvalidAddress, UndeliverableAddress, normalise_email
from mailer.audience import lifecycle
from mailer.audience.lists import ensure_list
from mailer.content.lists import ListDefinition, list_slugs, load_list
from mailer.errors import MailerError
from mailer.store.db import transaction
from mailer.tokens import (
    CONFIRM_MAX_AGE,
    RESEND_MAX_AGE,
    TEST_SUBSCRIBER_ID,
    TokenData,
    TokenError,
    make_token,
    read_token,
)
from mailer.web.confirm_mail import confirmation_message
from mailer.web.embed import frame_ancestors
from mailer.web.forms import cross_site, form_token, form_token_valid, origin_of

bp = Blueprint("web", __name__)
ONE_CLICK = "One-Click"
# The shape of a list slug (lists/<slug>.toml). Anything else is no list: it never reaches the file
# system, so "../x", "/etc/passwd" or a NUL byte are a 404, not a file read elsewhere or a 500.
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# The embed form and the pages its post answers with: all that other sites may frame (embed.py).
EMBED_PAGES = ("web.subscribe_embed", "web.subscribe_embed_post")
FORM_PAGES = ("web.subscribe_page", "web.subscribe_post", *EMBED_PAGES)
EMAIL_MAX, NAME_MAX = 320, 200  # the form fields' maxlength; the server cuts there too


def _ctx():
    return current_app.extensions["mailer"]


def settings():
    return _ctx()["settings"]


def factory():
    return _ctx()["factory"]


@lru_cache(maxsize=64)
def _load_list(lists_dir: str, slug: str) -> ListDefinition:
    from pathlib import Path

    return load_list(Path(lists_dir), slug)


def list_def(slug: str) -> ListDefinition:
    if not _SLUG_RE.fullmatch(slug):
        abort(404)
    try:
        return _load_list(str(settings().lists_dir), slug)
    except MailerError:
        abort(404)


def default_slug() -> str:
    slugs = list_slugs(settings().lists_dir)
    if not slugs:
        abort(404)
    return slugs[0]


def embedded() -> bool:
    """This request is the embed form's or its post's: its pages go in the frame's layout."""
    return request.endpoint in EMBED_PAGES


def page(template: str, status: int = 200, slug: str | None = None, **values) -> Response:
    if slug is None and not list_slugs(settings().lists_dir):
        # No list file at all (a new installation, a wrong MAILER_LISTS_DIR): the error pages
        # still render, without a masthead, instead of failing into a 500.
        chrome = {"masthead": "Newsletter", "tagline": "", "postal_address": ""}
    else:
        chosen = list_def(slug or default_slug())
        chrome = {
            "masthead": chosen.name,
            "tagline": chosen.tagline,
            "postal_address": chosen.postal_address,
        }
    body = render_template(
        template, layout="embed.html" if embedded() else "base.html", **chrome, **values
    )
    return Response(body, status=status, mimetype="text/html")


def message(
    heading: str, *paragraphs: str, status: int = 200, list_slug: str | None = None, **extra
) -> Response:
    return page("message.html", status, list_slug, heading=heading, paragraphs=paragraphs, **extra)


def visitor(source: str = "web") -> lifecycle.Visitor:
    return lifecycle.Visitor(
        ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), source=source
    )


def verify(purpose: str, raw: str, max_age: int | None = None) -> TokenData:
    s = settings()
    return read_token(s.secret_key, purpose, raw, max_age=max_age, old_keys=s.old_secret_keys)


def link(purpose: str, subscriber_id: int, slug: str, endpoint: str) -> str:
    s = settings()
    signed = make_token(s.secret_key, purpose, subscriber_id, slug, s.old_secret_keys)
    return s.base_url + url_for(endpoint, token=signed)


def bad_link() -> Response:
    return message(
        "This link does not work",
        "It may have been copied incompletely. Use the link in your most recent mail from us.",
        status=400,
    )


def mail_confirmation(slug: str, pending: lifecycle.Pending) -> None:
    """Queued for the sender thread: the response goes out before the mail does (see
    outbound.py)."""
    url = link("confirm", pending.subscriber_id, slug, "web.confirm")
    definition, email, mail_id = list_def(slug), pending.email, pending.consent_id
    _ctx()["outbound"].submit(lambda: confirmation_message(definition, email, url, mail_id))


def mail_welcome(definition: ListDefinition, delivery_id: int) -> None:
    """The welcome row queued by a confirmation, handed to the sender thread after the commit: it
    claims the row in the ledger, sends and records the outcome (send/welcome.py)."""
    welcomes = _ctx()["welcomes"]
    _ctx()["outbound"].run(lambda transport: welcomes.deliver(definition, delivery_id, transport))


def subscribe_url(slug: str) -> str:
    """The form again: in a frame, the embed form (the frame stays the form's)."""
    return url_for("web.subscribe_embed" if embedded() else "web.subscribe_page", slug=slug)


# --- health
# ----------------------------------------------------------------------------------------


@bp.get("/healthz")
def healthz():
    with factory()() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}


# --- subscribe
# -------------------------------------------------------------------------------------


def subscribe_form(
    slug: str, status: int = 200, error: str | None = None, email: str = "", name: str = ""
):
    s = settings()
    action = (
        url_for("web.subscribe_embed_post", slug=slug)
        if embedded()
        else url_for("web.subscribe_post")
    )
    return page(
        "subscribe.html",
        status,
        slug,
        action=action,
        list_slug=slug,
        error=error,
        email=email,
        name=name,
        consent_text=lifecycle.CONSENT_TEXT,
        form_version=lifecycle.FORM_VERSION,
        form_token=form_token(s.secret_key, slug, s.old_secret_keys),
    )


def prefill() -> dict[str, str]:
    """`?email=` and `?name=` of a GET, where given: what the plain-HTML form on another site sends
    (embed.py). Shown in the form's fields only (the template escapes them), cut like a post's;
    nothing is stored until the reader sends the form."""
    values = {
        "email": request.args.get("email", "")[:EMAIL_MAX],
        "name": request.args.get("name", "")[:NAME_MAX],
    }
    return {key: value for key, value in values.items() if value}


@bp.get("/subscribe")
def subscribe_get():
    """The old address of the form (`?list=slug`), and the default list's form: a redirect that
    keeps the prefill."""
    slug = request.args.get("list") or default_slug()
    list_def(slug)
    return redirect(url_for("web.subscribe_page", slug=slug, **prefill()), code=302)


@bp.get("/subscribe/<slug>")
def subscribe_page(slug: str):
    """The form's canonical address: the Subscribe button, the QR code and every footer link
    here."""
    list_def(slug)
    return subscribe_form(slug, **prefill())


@bp.get("/subscribe/<slug>/embed")
def subscribe_embed(slug: str):
    """The form alone, for an iframe on the sites of `embed_origins` (embed.py)."""
    list_def(slug)
    return subscribe_form(slug, **prefill())


def check_your_inbox(slug: str) -> Response:
    return message(
        "Check your inbox",
        "If this address can receive our newsletter, a mail with a confirmation link is on its "
        "way. "
        "Click the link in it to start your subscription.",
        list_slug=slug,
    )


def foreign_post(slug: str) -> Response | None:
    """A 403 page when the post did not come from our own form (forms.py), else None."""
    s = settings()
    own = {origin_of(s.base_url), origin_of(request.host_url)}
    if cross_site(request.headers, own) is None and form_token_valid(
        s.secret_key, request.form.get("form_token", ""), slug, s.old_secret_keys
    ):
        return None
    return message(
        "Please use the form on our page",
        "This request did not come from our subscribe form, or the form was open for more than a "
        "day. "
        "Open the subscribe page again and send the form from there.",
        status=403,
        list_slug=slug,
        subscribe_url=subscribe_url(slug),
    )


@bp.post("/subscribe")
def subscribe_post():
    return subscribe_request(request.form.get("list") or default_slug())


@bp.post("/subscribe/<slug>/embed")
def subscribe_embed_post(slug: str):
    """The embed form's post: the same request, answered in the frame's layout."""
    return subscribe_request(slug)


def subscribe_request(slug: str) -> Response:
    """A subscribe form's post, hosted or embedded: the pages are the same, the layout follows the
    route (embedded())."""
    form = request.form
    definition = list_def(slug)
    refused = foreign_post(slug)  # before the rate limit: a refused post changes nothing at all
    if refused is not None:
        return refused
    raw_email, name = form.get("email", "")[:EMAIL_MAX], form.get("name", "")[:NAME_MAX]
    try:
        email = normalise_email(raw_email)
    except UndeliverableAddress as exc:
        return subscribe_form(slug, 400, f"Sorry, {exc}.", raw_email, name)
    except InvalidAddress:
        email = None
    pending = None
    # One transaction for the rate-limit hit and the subscription: every accepted request, for a
    # known
    # address or a new one, commits one write, so the database's commit time does not tell them
    # apart.
    with transaction(factory()) as session:
        allowed = _ctx()["limiter"].allow(request.remote_addr or "?", session)
        honeypot = bool(
            form.get("website")
        )  # people never see this field; form-filling bots fill it
        if allowed and not honeypot and email is not None:
            list_id = ensure_list(session, definition)
            pending = lifecycle.subscribe(session, list_id, email, name, visitor())
    if not allowed:
        return message(
            "Too many requests",
            "Please wait a few minutes and try again.",
            status=429,
            list_slug=slug,
        )
    if honeypot:
        return check_your_inbox(slug)
    if email is None:
        return subscribe_form(
            slug, 400, "Please enter a valid email address, like name@example.com.", raw_email, name
        )
    if pending is not None:
        mail_confirmation(slug, pending)
    return check_your_inbox(slug)


# --- confirm
# ---------------------------------------------------------------------------------------


def confirm_token(token: str) -> TokenData | Response:
    """The token's data, or the page for an expired or bad link."""
    try:
        return verify("confirm", token, max_age=CONFIRM_MAX_AGE)
    except TokenError as exc:
        if exc.expired:
            return message(
                "This link has expired",
                "Confirmation links work for 7 days. We can send you a new one.",
                status=410,
                resend_url=url_for("web.resend", token=token),
            )
        return bad_link()


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    """One button and no change: mail security scanners open every link in a mail before the person
    does, and a GET that confirmed would subscribe whoever's address someone else typed."""
    data = confirm_token(token)
    if isinstance(data, Response):
        return data
    definition = list_def(data.list_slug)
    return page(
        "confirm.html",
        slug=data.list_slug,
        list_name=definition.name,
        action=url_for("web.confirm", token=token),
    )


@bp.post("/confirm/<token>")
def confirm(token: str):
    data = confirm_token(token)
    if isinstance(data, Response):
        return data
    definition = list_def(data.list_slug)
    confirmation = lifecycle.Confirmation(False)
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        if list_id is not None:
            confirmation = lifecycle.confirm(
                session, data.subscriber_id, list_id, visitor(), definition.welcome.enabled
            )
    if confirmation.welcome_id is not None:
        mail_welcome(definition, confirmation.welcome_id)
    if not confirmation.confirmed:
        return message(
            "This link is no longer valid",
            "To receive the newsletter, subscribe again; we will send a new confirmation link.",
            status=410,
            list_slug=data.list_slug,
            subscribe_url=subscribe_url(data.list_slug),
        )
    return message(
        "You're subscribed",
        f"Welcome to {definition.name}. The next issue will be in your inbox.",
        list_slug=data.list_slug,
    )


@bp.post("/confirm/<token>/resend")
def resend(token: str):
    try:
        data = verify("confirm", token, max_age=RESEND_MAX_AGE)
    except TokenError:
        return bad_link()
    list_def(data.list_slug)
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        pending = list_id and lifecycle.request_new_confirmation(
            session, data.subscriber_id, list_id, visitor()
        )
    if pending:
        mail_confirmation(data.list_slug, pending)
    return check_your_inbox(data.list_slug)


# --- unsubscribe (the manage pages: web/manage.py)
# ------------------------------------------------------------------------


def unsubscribe_lists(data: TokenData, everything: bool, source: str) -> int:
    """Leave this list or every list (also the manage page's unsubscribe, web/manage.py)."""
    if data.subscriber_id == TEST_SUBSCRIBER_ID:  # a test link (mailer doctor, send --to): no one
        return 0
    with transaction(factory()) as session:
        list_id = lifecycle.list_id_of(session, data.list_slug)
        if everything:
            ids = [row[0] for row in lifecycle.subscribed_lists(session, data.subscriber_id)]
        else:
            ids = [list_id] if list_id is not None else []
        detail = "all lists" if everything else None
        return lifecycle.unsubscribe(session, data.subscriber_id, ids, visitor(source), detail)


def unsubscribed_page(data: TokenData, everything: bool) -> Response:
    what = "all our lists" if everything else list_def(data.list_slug).name
    return message(
        "You're unsubscribed",
        f"You will receive no more mail from {what}.",
        "Changed your mind? You can subscribe again at any time.",
        list_slug=data.list_slug,
        subscribe_url=subscribe_url(data.list_slug),
    )


@bp.get("/unsubscribe/<token>")
def unsubscribe_get(token: str):
    try:
        data = verify("unsubscribe", token)
    except TokenError:
        return bad_link()
    definition = list_def(data.list_slug)
    return page(
        "unsubscribe.html",
        slug=data.list_slug,
        list_name=definition.name,
        action=url_for("web.unsubscribe_post", token=token),
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str):
    """The button on the page and RFC 8058 one-click (List-Unsubscribe=One-Click): 200, no
    redirect."""
    try:
        data = verify("unsubscribe", token)
    except TokenError:
        return bad_link()
    list_def(data.list_slug)
    one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
    everything = not one_click and request.form.get("scope") == "all"
    unsubscribe_lists(data, everything, "one-click" if one_click else "web")
    return unsubscribed_page(data, everything)


# --- every response
# --------------------------------------------------------------------------------


@bp.after_app_request
def headers(response: Response) -> Response:
    # Tokens live in URLs: never leak them in a Referer, never cache the pages that show them. The
    # form
    # pages hold no token; there same-origin lets the browser send our Origin with the post
    # (forms.py).
    response.headers["Referrer-Policy"] = (
        "same-origin" if request.endpoint in FORM_PAGES else "no-referrer"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Only the embed form and its answers may be framed, and only by embed_origins (embed.py);
    # X-Frame-Options cannot name sites, so it is left out wherever some framing is allowed.
    ancestors = frame_ancestors(settings().embed_origins) if embedded() else "'none'"
    if ancestors == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        f"form-action 'self'; frame-ancestors {ancestors}; base-uri 'none'"
    )
    if not request.path.startswith("/archive/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def register_error_pages(app: Flask) -> None:
    def handler(status: int, heading: str, paragraph: str):
        def render(_exc):
            return message(heading, paragraph, status=status)

        return render

    app.register_error_handler(404, handler(404, "Not found", "There is no page at this address."))
    app.register_error_handler(
        405, handler(405, "Not allowed", "This page does not accept that request.")
    )
    app.register_error_handler(413, handler(413, "Too large", "That request was too large."))
    app.register_error_handler(
        500, handler(500, "Something went wrong", "Please try again in a minute.")
    )
