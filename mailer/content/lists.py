"""List definitions: lists/<slug>.toml, one per newsletter."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any

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
_KNOWN = set(_REQUIRED) | {"tagline", "language", "double_opt_in", "bounce_policy", "sources"}


def _address(path: Path, key: str, value: str) -> str:
    if not _ADDR_RE.match(value):
        raise ContentError(
            path, None, f"field '{key}': {value!r} is not an email address like name@example.com"
        )
    return value


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
