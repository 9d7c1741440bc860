"""Who may post the subscribe form: our own page, in a browser or not, and nobody else's.

Two checks, both needed:
- The browser's own word. A cross-site form post carries `Origin: https://their.site` and
  `Sec-Fetch-Site: cross-site` (or `same-site` from a sibling subdomain); both are set by the
  browser and
  cannot be forged by the page. Either one naming another site is refused. Clients that send neither
  (curl, old browsers) pass this check.
- A form token: a signed, timestamped value in a hidden field of our form. A post without one did
not
  come from our page (a bot posting blind, or an old browser led by another site); with one, the
  poster
  fetched our form within FORM_MAX_AGE. No cookie is needed, so the form still works with cookies
  off.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer

FORM_MAX_AGE = 24 * 3600  # a form left open overnight still works
SAME_ORIGIN_FETCH = ("same-origin", "none")  # "none": typed, bookmarked or opened by the user


def _serializer(secret_key: str, old_keys: tuple[str, ...]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer([*old_keys, secret_key], salt="mailer.subscribe-form")


def form_token(secret_key: str, list_slug: str, old_keys: tuple[str, ...] = ()) -> str:
    return _serializer(secret_key, old_keys).dumps(list_slug)


def form_token_valid(
    secret_key: str, raw: str, list_slug: str, old_keys: tuple[str, ...] = ()
) -> bool:
    try:
        return _serializer(secret_key, old_keys).loads(raw, max_age=FORM_MAX_AGE) == list_slug
    except BadData:
        return False


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(headers, own_origins: set[str]) -> str | None:
    """Why the browser says this request came from another site, or None when it does not."""
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in SAME_ORIGIN_FETCH:
        return f"Sec-Fetch-Site: {fetch_site}"
    origin = headers.get("Origin")
    if origin is None or origin.lower().rstrip("/") in own_origins:
        return None
    # "null" comes from sandboxed frames and data: pages, but also from our own page when a referrer
    # policy of no-referrer is in force (Chromium): believed only when Sec-Fetch-Site says
    # same-origin.
    if origin == "null" and (fetch_site or "").lower() == "same-origin":
        return None
    return f"Origin: {origin}"
