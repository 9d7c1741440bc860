"""What every group of checks reads, opened once per `mailer doctor` run: the settings, the lists
to check, the database, the DNS resolver, AWS clients (mailer.aws) and the SES account.

AWS failures become (detail, fix) here, so that every check words them alike: no credentials, a
permission the machine's role lacks (the IAM action named), an endpoint that does not answer.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from sqlalchemy.orm import Session, sessionmaker

from mailer import aws
from mailer.config import Settings, parse_smtp_url
from mailer.content.lists import ListDefinition
from mailer.doctor.check import one_line
from mailer.doctor.resolver import Resolver
from mailer.errors import ConfigError

log = logging.getLogger(__name__)

# Where a settings change goes on a server installed as README "Production" says.
SETTINGS_FILE = "/etc/mailer/mailer.env"
SES_SMTP_HOST = ".amazonaws.com"  # email-smtp.<region>.amazonaws.com: SES's SMTP interface

AwsError = (BotoCoreError, ClientError, ConfigError)


@dataclass(frozen=True)
class AwsProblem:
    detail: str
    fix: str
    everywhere: bool = False  # no region, no credentials, no endpoint: every AWS call fails so


def aws_problem(exc: Exception, action: str) -> AwsProblem:
    """One line for a failed AWS call, named by its IAM action (e.g. `ses:GetAccount`: the name
    an operator grants), and what to do about it."""
    if isinstance(exc, ConfigError):  # from mailer.aws: no region, unknown profile
        return AwsProblem(f"{action}: {exc}", str(exc).rsplit(": ", 1)[-1], everywhere=True)
    if isinstance(exc, NoCredentialsError):
        return AwsProblem(
            f"{action}: no AWS credentials",
            "give the machine an IAM role (instance profile), or set AWS_PROFILE to a profile "
            "the mailer user can read",
            everywhere=True,
        )
    if isinstance(exc, EndpointConnectionError):
        return AwsProblem(
            f"{action}: the endpoint does not answer ({one_line(exc)})",
            "check the machine's network path to AWS (or AWS_ENDPOINT_URL_* / "
            "MAILER_SES_ENDPOINT_URL when set)",
            everywhere=True,
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = one_line(error.get("Message") or exc)
        if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
            return AwsProblem(
                f"{action}: access denied ({message})",
                f"allow {action} in the IAM policy of the machine's role (or AWS_PROFILE's user)",
            )
        if code in ("UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch"):
            return AwsProblem(
                f"{action}: AWS does not accept the credentials ({code})",
                "check the machine's IAM role or AWS_PROFILE's keys (aws sts get-caller-identity)",
                everywhere=True,
            )
        return AwsProblem(f"{action}: {code}: {message}", "see the AWS message; then run again")
    return AwsProblem(f"{action}: {one_line(exc)}", "see the message; then run again")


def error_code(exc: Exception) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def uses_ses(settings: Settings) -> bool:
    """The ses transport, or SMTP to SES's SMTP interface: the SES checks apply."""
    if settings.transport == "ses":
        return True
    if settings.transport.startswith(("smtp://", "smtps://")):
        return parse_smtp_url(settings.transport).host.endswith(SES_SMTP_HOST)
    return False


@dataclass
class Probe:
    """The doctor's view of one installation; each remote answer is fetched once."""

    settings: Settings
    lists: tuple[ListDefinition, ...]
    factory: sessionmaker[Session] | None  # None: the database cannot be opened (settings.database)
    resolver: Resolver
    _clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)

    # --- AWS clients -------------------------------------------------------------------------

    def ses(self, version: str = "sesv2"):
        """An SES client (`ses` v1 or `sesv2`) where the ses transport sends: the chain's region,
        MAILER_SES_ENDPOINT_URL when set."""
        return self._client(version, None, self.settings.ses_endpoint_url)

    def sns(self, region: str | None):
        return self._client("sns", region)

    def sqs(self, region: str | None = None):
        return self._client("sqs", region or aws.queue_region(self.settings.sqs_queue_url))

    def _client(self, service: str, region: str | None, endpoint_url: str | None = None):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = aws.client(
                service,
                region=region,
                endpoint_url=endpoint_url,
                config=aws.probe_config(),
                purpose="mailer doctor",
            )
        return self._clients[key]

    @property
    def region(self) -> str:
        """The SES region (the chain's): where identities, configuration sets, the account are."""
        return self.ses().meta.region_name

    @functools.cached_property
    def account(self) -> dict | AwsProblem:
        """sesv2 GetAccount, or why it could not be read (settings.transport reports it)."""
        try:
            return self.ses().get_account()
        except AwsError as exc:
            return aws_problem(exc, "ses:GetAccount")

    @property
    def account_check(self) -> str:
        """The check that reports a failed GetAccount: the transport's for ses; for SMTP through
        SES's SMTP interface, which does not need GetAccount to send, ses.region's."""
        return "settings.transport" if self.settings.transport == "ses" else "ses.region"

    @property
    def aws_down(self) -> bool:
        """No AWS call can work (GetAccount failed for want of a region, credentials or a
        network path): the other AWS checks say "not checked" instead of failing the same way."""
        return isinstance(self.account, AwsProblem) and self.account.everywhere

    # --- the lists ---------------------------------------------------------------------------

    @property
    def domains(self) -> dict[str, list[ListDefinition]]:
        """From domain -> the lists that send from it, in slug order."""
        out: dict[str, list[ListDefinition]] = {}
        for list_def in sorted(self.lists, key=lambda d: d.slug):
            out.setdefault(list_def.domain.lower(), []).append(list_def)
        return dict(sorted(out.items()))

    @property
    def base_host(self) -> str:
        return (urlsplit(self.settings.base_url).hostname or "").lower()
