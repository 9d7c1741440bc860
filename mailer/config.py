"""Settings, read once. Precedence: CLI flag > environment > mailer.toml > defaults.

Standard names where they exist (DATABASE_URL, AWS_* through the boto3 chain, HF_TOKEN,
GITHUB_TOKEN); our own are prefixed MAILER_. A malformed value is one ConfigError naming it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError

# setting name -> (environment variable, mailer.toml key)
_SOURCES: dict[str, tuple[str, str]] = {
    "database_url": ("DATABASE_URL", "database_url"),
    "secret_key": ("MAILER_SECRET_KEY", "secret_key"),
    "old_secret_keys": ("MAILER_OLD_SECRET_KEYS", "old_secret_keys"),
    "base_url": ("MAILER_BASE_URL", "base_url"),
    "transport": ("MAILER_TRANSPORT", "transport"),
    "outbox_dir": ("MAILER_OUTBOX", "outbox"),
    "issues_path": ("MAILER_ISSUES_PATH", "issues_path"),
    "lists_dir": ("MAILER_LISTS_DIR", "lists_dir"),
    "ses_configuration_set": ("MAILER_SES_CONFIGURATION_SET", "ses_configuration_set"),
    "ses_endpoint_url": ("MAILER_SES_ENDPOINT_URL", "ses_endpoint_url"),
    "sns_topic_arns": ("MAILER_SNS_TOPIC_ARNS", "sns_topic_arns"),
    "sqs_queue_url": ("MAILER_SQS_QUEUE_URL", "sqs_queue_url"),
    "send_rate": ("MAILER_SEND_RATE", "send_rate"),
    "send_timeout": ("MAILER_SEND_TIMEOUT", "send_timeout"),
    "transport_down_after": ("MAILER_TRANSPORT_DOWN_AFTER", "transport_down_after"),
    "smtp_user": ("MAILER_SMTP_USER", "smtp_user"),
    "smtp_password": ("MAILER_SMTP_PASSWORD", "smtp_password"),
    "hf_token": ("HF_TOKEN", "hf_token"),
    "github_token": ("GITHUB_TOKEN", "github_token"),
    "trusted_proxies": ("MAILER_TRUSTED_PROXIES", "trusted_proxies"),
    "log_format": ("MAILER_LOG_FORMAT", "log_format"),
    "embed_origins": ("MAILER_EMBED_ORIGINS", "embed_origins"),
    "dns_server": ("MAILER_DNS_SERVER", "dns_server"),
    "dns_timeout": ("MAILER_DNS_TIMEOUT", "dns_timeout"),
}
# The settings file's own variable: read before any file, so it has no mailer.toml key.
CONFIG_ENV = "MAILER_CONFIG"
LOG_FORMATS = ("text", "json")
# The sites that may show /subscribe/<list>/embed in a frame (web/embed.py). `*`: any site. The
# default, because the framed form can do nothing a visitor did not mean: it only starts a double
# opt-in, so a site that tricks someone into sending it (clickjacking) gets one confirmation mail to
# an address the visitor typed, and no subscription without the click in that mail; and the form is
# made to be put on other people's pages. Operators who want their form on their own sites only list
# those origins; `none` lets no site frame it.
ANY_SITE, NO_SITE = "*", "none"
_ORIGIN_RE = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)

DEFAULT_DATABASE_URL = "sqlite:///var/mailer.db"


def environment_variables() -> tuple[str, ...]:
    """Every environment variable the settings are read from (deploy/mailer.env.example lists each
    one; a test holds them together)."""
    return (CONFIG_ENV, *(env_name for env_name, _ in _SOURCES.values()))


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str | None = None
    old_secret_keys: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:8000"
    transport: str = "file"
    outbox_dir: Path = Path("var/outbox")
    issues_path: tuple[Path, ...] = (Path("issues"),)
    lists_dir: Path = Path("lists")
    ses_configuration_set: str | None = None
    ses_endpoint_url: str | None = None
    sns_topic_arns: tuple[str, ...] = ()
    sqs_queue_url: str | None = None
    send_rate: float = 14.0
    send_timeout: float = 30.0  # seconds to wait for the provider's answer (then: outcome unknown)
    transport_down_after: float = (
        60.0  # seconds of failed connections in a row before the send pauses
    )
    smtp_user: str | None = None
    smtp_password: str | None = None
    hf_token: str | None = None
    github_token: str | None = None
    trusted_proxies: int = (
        0  # reverse proxies in front of the web app whose X-Forwarded-For is believed
    )
    log_format: str = "text"  # the `mailer` commands' log lines on stderr: text or json
    embed_origins: tuple[str, ...] = (ANY_SITE,)  # who may frame the embed form (ANY_SITE above)
    # The DNS resolver `mailer doctor` asks for DKIM, SPF and DMARC records: (IP address, port), or
    # None for the system's resolver (/etc/resolv.conf); and how long one lookup may take.
    dns_server: tuple[str, int] | None = None
    dns_timeout: float = 5.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def require_secret_key(self) -> str:
        if not self.secret_key or len(self.secret_key) < 16:
            raise ConfigError(
                "MAILER_SECRET_KEY is not set (or shorter than 16 characters): set it to a long "
                "random "
                "string, e.g. `export MAILER_SECRET_KEY=$(python3 -c 'import "
                "secrets;print(secrets.token_urlsafe(32))')`"
            )
        return self.secret_key


def normalise_database_url(url: str) -> str:
    """Heroku-style `postgres://` is not a SQLAlchemy dialect name; accept it, and pin the driver
    to psycopg 3 (the `postgres` extra) whatever SQLAlchemy's default driver is."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool  # smtps://
    starttls: bool
    timeout: float
    starttls_given: bool = (
        False  # starttls= was in the URL (starttls=0 is then a choice, not a default)
    )


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (1 or 0)")


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://host:port?starttls=1&timeout=30` or `smtps://host:port`. Raises ValueError."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("has no host; use smtp://host:port")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))}; known: starttls, timeout"
        )
    implicit = parts.scheme == "smtps"
    starttls = _flag(query.get("starttls", "0"))
    timeout = float(query.get("timeout", "30"))
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    return SmtpTarget(
        parts.hostname,
        port or (465 if implicit else 587 if starttls else 25),
        implicit,
        starttls,
        timeout,
        starttls_given="starttls" in query,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}; fix the TOML syntax") from exc
    known = {key for _, key in _SOURCES.values()}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{path}: unknown setting '{key}'; known settings: {', '.join(sorted(known))}"
            )
    return data


def _split_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def embed_origins(raw: Any) -> tuple[str, ...]:
    """`*`, `none`, or origins (scheme://host[:port], comma-separated or a TOML list), lower-cased.
    Each goes into a Content-Security-Policy header as it is: nothing else may pass, or a value
    such as `https://a.example; script-src *` would add a directive. Raises ValueError."""
    values = tuple(value.lower().rstrip("/") for value in _split_list(raw))
    if not values:
        raise ValueError("is empty; give * (any site), none, or origins like https://blog.example")
    if len(values) == 1 and values[0] in (ANY_SITE, NO_SITE):
        return values
    for value in values:
        if value in (ANY_SITE, NO_SITE):
            raise ValueError(f"{value} cannot be combined with origins; give it alone")
        match = _ORIGIN_RE.fullmatch(value)
        if match is None or int(match["port"] or 0) > 65535:
            raise ValueError(
                f"{value!r} is not an origin; give scheme://host[:port] such as "
                "https://blog.example, no path (punycode for a non-ASCII host), comma-separated"
            )
    return values


def dns_server(raw: Any) -> tuple[str, int]:
    """`HOST[:PORT]` with HOST an IP address (`[v6]:PORT` for IPv6 with a port): (host, port).
    An address, not a name: the resolver that would look a name up is the one being chosen.
    Raises ValueError."""
    import ipaddress

    text = str(raw).strip()
    match = re.fullmatch(r"\[(?P<v6>[0-9a-fA-F:.]+)\](?::(?P<v6port>\d{1,5}))?", text)
    if match:
        host, port = match["v6"], match["v6port"]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            "must be the IP address of a DNS resolver, optionally with a port: 192.0.2.53, "
            "192.0.2.53:5353 or [2001:db8::53]:53"
        ) from None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("has a port that is not a number from 1 to 65535")
    return host, int(port) if port else 53


def _convert(name: str, raw: Any, origin: str) -> Any:
    try:
        if name == "database_url":
            return normalise_database_url(str(raw))
        if name in ("old_secret_keys", "sns_topic_arns"):
            return _split_list(raw)
        if name == "issues_path":
            parts = raw if isinstance(raw, list) else str(raw).split(os.pathsep)
            return tuple(Path(p) for p in parts if str(p))
        if name in ("outbox_dir", "lists_dir"):
            return Path(str(raw))
        if name == "dns_server":
            return dns_server(raw)
        if name in ("send_rate", "send_timeout", "transport_down_after", "dns_timeout"):
            number = float(raw)
            if not number > 0 or number == float("inf"):
                raise ValueError("must be a positive number")
            return number
        if name == "trusted_proxies":
            if not str(raw).strip().isdigit() or int(raw) > 10:
                raise ValueError("must be the number of reverse proxies in front of the app (0-10)")
            return int(raw)
        if name == "base_url":
            url = str(raw).rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise ValueError("must start with https:// (or http:// for local use)")
            return url
        if name == "transport":
            value = str(raw)
            if value not in ("file", "ses") and not value.startswith(("smtp://", "smtps://")):
                raise ValueError("must be 'file', 'ses' or 'smtp://host:port'")
            if value.startswith(("smtp://", "smtps://")):
                parse_smtp_url(value)
            return value
        if name == "embed_origins":
            return embed_origins(raw)
        if name == "log_format":
            if str(raw) not in LOG_FORMATS:
                raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
            return str(raw)
        return str(raw) if raw is not None else None
    except ValueError as exc:
        raise ConfigError(f"{origin}: invalid value {raw!r}: {exc}") from exc


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    if config_file is None:
        config_file = Path(environ.get(CONFIG_ENV, "mailer.toml"))
        file_values = _read_toml(config_file) if config_file.exists() else {}
    else:
        if not config_file.exists():
            raise ConfigError(
                f"config file {config_file} does not exist; check --config or MAILER_CONFIG"
            )
        file_values = _read_toml(config_file)

    values: dict[str, Any] = {}
    for name, (env_name, toml_key) in _SOURCES.items():
        if overrides and overrides.get(name) is not None:
            values[name] = _convert(name, overrides[name], f"option --{name.replace('_', '-')}")
        elif environ.get(env_name):
            values[name] = _convert(name, environ[env_name], f"environment variable {env_name}")
        elif toml_key in file_values:
            values[name] = _convert(
                name, file_values[toml_key], f"{config_file}: setting '{toml_key}'"
            )
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})
