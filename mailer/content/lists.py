"""List definitions: lists/<slug>.toml, one per newsletter (ARCHITECTURE.md, "Stages": content reads
what an editor wrote). The optional [schedule] table becomes a `Schedule`; the plan made from it is
the autopilot's (ARCHITECTURE.md, "Layers and rules": autopilot sits above track)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.errors import ContentError, NotFoundError

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDR_RE = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class BouncePolicy:
    soft_bounce_limit: int = 3
    soft_bounce_window_days: int = 30
    bounce_rate_threshold: float = 0.05
    min_sent_for_rate: int = 200
    complaint_rate_threshold: float = 0.001


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class Schedule:
    """A list's [schedule]: when each issue is prepared, sent (a canary first when `canary` > 0) and
    its canary judged. `time` is local wall-clock time in `timezone`; `days` are the local weekdays
    of the send, in week order; the minutes are elapsed time before and after the send instant."""

    time: dt.time
    timezone: str
    days: tuple[str, ...] = WEEKDAYS
    prepare_before_minutes: int = 60
    canary: int = 0
    canary_wait_minutes: int = 20
    alert: tuple[str, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ArchiveSettings:
    """A list's [archive]: where `mailer autopilot` rebuilds the static site after each send
    (`static_dir`, relative to the working directory) and the address it is served at
    (`public_url`; without it the site's feeds and cards point at the app's own /archive/)."""

    static_dir: Path | None = None
    public_url: str | None = None


@dataclass(frozen=True)
class AnalyticsSettings:
    """A list's [analytics] (ARCHITECTURE.md, "Clicks"): `clicks` rewrites content links to
    counted redirects (off by default; never an open pixel); a click within
    `scanner_window_seconds` of its message's hand-over counts as a scanner's; `order_by_clicks`
    lets `mailer issue new` order trending entries and readings by earlier click rates."""

    clicks: bool = False
    scanner_window_seconds: int = 10
    order_by_clicks: bool = False


@dataclass(frozen=True)
class WelcomeSettings:
    """A list's [welcome] (ARCHITECTURE.md, "Preferences"): when `enabled`, a subscriber who
    confirms gets one welcome mail (`subject`, `intro` above the latest issue's headline)."""

    enabled: bool = False
    subject: str = ""  # empty: "Welcome to <list name>"
    intro: str = ""  # empty: the template's own words


@dataclass(frozen=True)
class DigestSettings:
    """A list's [digest] (ARCHITECTURE.md, "Preferences"): when `enabled`, readers may choose a
    weekly digest in /manage instead of every issue; it goes on `day` (a local weekday of the
    list's schedule) and covers the seven days before it."""

    enabled: bool = False
    day: str = "sun"
    subject: str = ""  # empty: "<list name>: the week"


@dataclass(frozen=True)
class ListDefinition:
    path: str
    slug: str
    name: str
    tagline: str
    from_name: str
    from_address: str
    reply_to: str
    template: str
    language: str
    double_opt_in: bool
    postal_address: str
    unsubscribe_mailbox: str
    bounce_policy: BouncePolicy = field(default_factory=BouncePolicy)
    sources: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    welcome: WelcomeSettings = field(default_factory=WelcomeSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)

    @property
    def from_header(self) -> str:
        return str(Address(display_name=self.from_name, addr_spec=self.from_address))

    @property
    def domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1]

    @property
    def list_id(self) -> str:
        """RFC 2919 List-Id: a display phrase and a dot-atom under a domain we control."""
        return f"{self.name} <{self.slug}.{self.domain}>"


_REQUIRED = (
    "slug",
    "name",
    "from",
    "reply_to",
    "template",
    "postal_address",
    "unsubscribe_mailbox",
)
_KNOWN = set(_REQUIRED) | {
    "tagline",
    "language",
    "double_opt_in",
    "bounce_policy",
    "sources",
    "schedule",
    "archive",
    "analytics",
    "welcome",
    "digest",
}
_SCHEDULE_KNOWN = {
    "time",
    "timezone",
    "days",
    "prepare_before_minutes",
    "canary",
    "canary_wait_minutes",
    "alert",
}


def _address(path: Path, key: str, value: str) -> str:
    if not _ADDR_RE.match(value):
        raise ContentError(
            path, None, f"field '{key}': {value!r} is not an email address like name@example.com"
        )
    return value


def _schedule_error(path: Path, key: str, message: str) -> ContentError:
    return ContentError(path, None, f"[schedule] field 'schedule.{key}': {message}")


def _schedule_time(path: Path, value: Any) -> dt.time:
    if isinstance(value, dt.time) and not (value.second or value.microsecond or value.tzinfo):
        return value  # a TOML local time, 06:30:00
    found = _TIME_RE.match(value) if isinstance(value, str) else None
    if not found:
        raise _schedule_error(
            path, "time", f'must be a 24-hour local time "HH:MM" like "06:30", got {value!r}'
        )
    return dt.time(int(found[1]), int(found[2]))


def _schedule_timezone(path: Path, value: Any) -> str:
    hint = 'use an IANA time zone name like "Europe/London" or "UTC"'
    if not isinstance(value, str) or not value.strip():
        raise _schedule_error(path, "timezone", f"must be a string; {hint}, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _schedule_error(path, "timezone", f"unknown time zone {value!r}; {hint}") from None
    return value


def _schedule_days(path: Path, value: Any) -> tuple[str, ...]:
    example = '["mon", "tue", "wed", "thu", "fri"]'
    if not isinstance(value, list) or not value:
        raise _schedule_error(
            path, "days", f"must be a non-empty list of weekdays like {example}, got {value!r}"
        )
    unknown = [day for day in value if day not in WEEKDAYS]
    if unknown:
        raise _schedule_error(
            path,
            "days",
            f"unknown day(s) {', '.join(map(repr, unknown))}; use {', '.join(WEEKDAYS)}",
        )
    return tuple(day for day in WEEKDAYS if day in value)


def _schedule_int(path: Path, data: dict, key: str, default: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise _schedule_error(path, key, f"must be a whole number from 0 to {high}, got {value!r}")
    return value


def _alert_target(path: Path, value: Any) -> str:
    hint = "use mailto:name@example.com or an https:// URL"
    if isinstance(value, str) and value.startswith("mailto:"):
        if _ADDR_RE.match(value.removeprefix("mailto:")):
            return value
        raise _schedule_error(
            path, "alert", f"{value!r} has no valid address after mailto:; {hint}"
        )
    if isinstance(value, str) and value.startswith("https://"):
        parts = urlsplit(value)
        if parts.hostname and not any(c.isspace() for c in value):
            return value
    raise _schedule_error(path, "alert", f"{value!r} is neither mailto: nor https://; {hint}")


def parse_schedule(path: Path, data: Any) -> Schedule:
    """The [schedule] table of a list file; a ContentError naming the file and the key."""
    if not isinstance(data, dict):
        raise ContentError(path, None, "[schedule]: must be a table")
    unknown = sorted(set(data) - _SCHEDULE_KNOWN)
    if unknown:
        raise ContentError(
            path,
            None,
            f"[schedule]: unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_SCHEDULE_KNOWN))}",
        )
    for key in ("time", "timezone"):
        if key not in data:
            raise _schedule_error(
                path, key, 'is required, e.g. time = "06:30", timezone = "Europe/London"'
            )
    alert = data.get("alert", [])
    if isinstance(alert, str):
        alert = [alert]
    if not isinstance(alert, list):
        raise _schedule_error(
            path, "alert", f'must be a list like ["mailto:editors@example.com"], got {alert!r}'
        )
    return Schedule(
        time=_schedule_time(path, data["time"]),
        timezone=_schedule_timezone(path, data["timezone"]),
        days=_schedule_days(path, data.get("days", list(WEEKDAYS))),
        prepare_before_minutes=_schedule_int(
            path, data, "prepare_before_minutes", 60, _MAX_MINUTES
        ),
        canary=_schedule_int(path, data, "canary", 0, 10_000_000),
        canary_wait_minutes=_schedule_int(path, data, "canary_wait_minutes", 20, _MAX_MINUTES),
        alert=tuple(_alert_target(path, target) for target in alert),
    )


def parse_archive(path: Path, data: Any) -> ArchiveSettings:
    """The [archive] table of a list file; a ContentError naming the file and the key."""
    if not isinstance(data, dict):
        raise ContentError(path, None, "[archive]: must be a table")
    unknown = sorted(set(data) - {"static_dir", "public_url"})
    if unknown:
        raise ContentError(
            path,
            None,
            f"[archive]: unknown field(s) {', '.join(unknown)}; known: public_url, static_dir",
        )
    static_dir = data.get("static_dir")
    if static_dir is not None and (not isinstance(static_dir, str) or not static_dir.strip()):
        raise ContentError(
            path,
            None,
            f"[archive] field 'archive.static_dir': must be a folder path, got {static_dir!r}",
        )
    public_url = data.get("public_url")
    if public_url is not None:
        parts = urlsplit(public_url) if isinstance(public_url, str) else None
        if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
            raise ContentError(
                path,
                None,
                "[archive] field 'archive.public_url': must be the site's address like "
                f"https://archive.example.com, got {public_url!r}",
            )
        public_url = public_url.rstrip("/")
    return ArchiveSettings(Path(static_dir) if static_dir else None, public_url)


def parse_analytics(path: Path, data: Any) -> AnalyticsSettings:
    """The [analytics] table of a list file; a ContentError naming the file and the key."""
    if not isinstance(data, dict):
        raise ContentError(path, None, "[analytics]: must be a table")
    known = ("clicks", "order_by_clicks", "scanner_window_seconds")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ContentError(
            path,
            None,
            f"[analytics]: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}",
        )
    for key in ("clicks", "order_by_clicks"):
        if not isinstance(data.get(key, False), bool):
            raise ContentError(
                path,
                None,
                f"[analytics] field 'analytics.{key}': must be true or false, got {data[key]!r}",
            )
    window = data.get("scanner_window_seconds", 10)
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= 3600:
        raise ContentError(
            path,
            None,
            "[analytics] field 'analytics.scanner_window_seconds': must be a whole number of "
            f"seconds from 0 to 3600, got {window!r}",
        )
    return AnalyticsSettings(
        clicks=data.get("clicks", False),
        scanner_window_seconds=window,
        order_by_clicks=data.get("order_by_clicks", False),
    )


def _known_table(path: Path, name: str, data: Any, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContentError(path, None, f"[{name}]: must be a table")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ContentError(
            path,
            None,
            f"[{name}]: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}",
        )
    return data


def _field(path: Path, table: str, data: dict[str, Any], key: str, kind: type, default):
    value = data.get(key, default)
    if not isinstance(value, kind) or (kind is str and len(value) > 2000):
        wanted = "true or false" if kind is bool else "a string"
        raise ContentError(
            path, None, f"[{table}] field '{table}.{key}': must be {wanted}, got {value!r}"
        )
    return value.strip() if kind is str else value


def parse_welcome(path: Path, data: Any) -> WelcomeSettings:
    """The [welcome] table of a list file; a ContentError naming the file and the key."""
    table = _known_table(path, "welcome", data, ("enabled", "intro", "subject"))
    return WelcomeSettings(
        enabled=_field(path, "welcome", table, "enabled", bool, False),
        subject=_field(path, "welcome", table, "subject", str, ""),
        intro=_field(path, "welcome", table, "intro", str, ""),
    )


def parse_digest(path: Path, data: Any) -> DigestSettings:
    """The [digest] table of a list file; a ContentError naming the file and the key."""
    table = _known_table(path, "digest", data, ("day", "enabled", "subject"))
    day = _field(path, "digest", table, "day", str, "sun").lower()
    if day not in WEEKDAYS:
        raise ContentError(
            path,
            None,
            f"[digest] field 'digest.day': must be one of {', '.join(WEEKDAYS)}, got {day!r}",
        )
    return DigestSettings(
        enabled=_field(path, "digest", table, "enabled", bool, False),
        day=day,
        subject=_field(path, "digest", table, "subject", str, ""),
    )


def parse_list(path: Path, data: dict[str, Any]) -> ListDefinition:
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ContentError(
            path, None, f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}"
        )
    for key in _REQUIRED:
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ContentError(
                path, None, f"field '{key}' is required and must be a non-empty string"
            )
    if not _SLUG_RE.match(data["slug"]):
        raise ContentError(
            path, None, f"field 'slug': {data['slug']!r} must be lower-case letters, digits and '-'"
        )
    if data["slug"] != path.stem:
        raise ContentError(
            path,
            None,
            f"field 'slug' is {data['slug']!r} but the file is named {path.name}; make them agree",
        )
    from_name, from_address = parseaddr(data["from"])
    _address(path, "from", from_address)
    policy_data = data.get("bounce_policy", {})
    try:
        policy = BouncePolicy(**policy_data)
    except TypeError as exc:
        raise ContentError(path, None, f"[bounce_policy]: {exc}") from None
    if not isinstance(data.get("double_opt_in", True), bool):
        raise ContentError(path, None, "field 'double_opt_in' must be true or false")
    return ListDefinition(
        path=str(path),
        slug=data["slug"],
        name=data["name"],
        tagline=data.get("tagline", ""),
        from_name=from_name or data["name"],
        from_address=from_address,
        reply_to=_address(path, "reply_to", data["reply_to"]),
        template=data["template"],
        language=data.get("language", "en"),
        double_opt_in=data.get("double_opt_in", True),
        postal_address=data["postal_address"],
        unsubscribe_mailbox=_address(path, "unsubscribe_mailbox", data["unsubscribe_mailbox"]),
        bounce_policy=policy,
        sources=data.get("sources", {}),
        schedule=parse_schedule(path, data["schedule"]) if "schedule" in data else None,
        archive=parse_archive(path, data["archive"]) if "archive" in data else ArchiveSettings(),
        analytics=(
            parse_analytics(path, data["analytics"]) if "analytics" in data else AnalyticsSettings()
        ),
        welcome=parse_welcome(path, data["welcome"]) if "welcome" in data else WelcomeSettings(),
        digest=parse_digest(path, data["digest"]) if "digest" in data else DigestSettings(),
    )


def load_list(lists_dir: Path, slug: str) -> ListDefinition:
    path = lists_dir / f"{slug}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in lists_dir.glob("*.toml"))) or "none"
        raise NotFoundError(
            f"no list '{slug}': {path} does not exist (lists in {lists_dir}: {known})"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(path, None, f"{exc}; fix the TOML syntax") from None
    return parse_list(path, data)


def list_slugs(lists_dir: Path) -> list[str]:
    return sorted(p.stem for p in lists_dir.glob("*.toml"))
