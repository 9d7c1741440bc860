"""Amazon SES v2 `SendEmail` with `Content.Raw`: our MIME, one recipient per call.

SendEmail goes through the lean path in ses_lean.py (same request, ~1/3 of boto3's CPU per call); the
boto3 client serves GetAccount/GetSendQuota and SendEmail where the lean path does not apply.
SDK retries are off for the send call: the send loop retries and counts attempts. Anything that may
have reached SES before it failed (read timeout, connection dropped after the request was written) is
an unknown outcome, never retried blindly. Region and credentials come from the boto3 chain.
"""

from __future__ import annotations

import logging
import os

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ProfileNotFound,
)

from mailer.errors import (
    ConfigError,
    ConnectionFailedError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
    TransportError,
)
from mailer.transports.base import AccountLimits, OutgoingMessage
from mailer.transports.ses_lean import LeanSendEmail

log = logging.getLogger(__name__)


def _config_file() -> str:
    return os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"


def _session() -> boto3.session.Session:
    try:
        return boto3.session.Session()
    except ProfileNotFound:
        raise ConfigError(f"AWS_PROFILE {os.environ.get('AWS_PROFILE', '')!r} is not a profile in {_config_file()}: "
                          "add a [profile NAME] section there, or unset AWS_PROFILE") from None


def missing_region(profile: str | None) -> str:
    """What to set when botocore finds no region. botocore reads AWS_DEFAULT_REGION and the profile's
    `region` in the config file; AWS_REGION, which the AWS CLI v2 and other SDKs read, it ignores."""
    section = "[default]" if profile in (None, "default") else f"[profile {profile}]"
    return ("AWS region is not set for the ses transport: set AWS_DEFAULT_REGION (boto3 reads it, not AWS_REGION) "
            f"or add `region = ...` to the {section} section of {_config_file()}")
CONNECT_TIMEOUT = 5.0  # seconds; a connection that cannot be made sent nothing (retryable)

THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
ROW_REJECTED = {"MessageRejected", "BadRequestException", "InvalidParameterValue"}
PAUSES = {"SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException",
          "NotFoundException", "AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
          "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredTokenException"}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: our own backoff applies
        return None


def classify_error(code: str, text: str, status: int, retry_after: str | None = None) -> TransportError:
    """What an SES error answer means for the ledger row (and for the whole send). Shared by the boto3
    path (ClientError) and the lean path (ses_lean), so both classify every answer the same way."""
    reason = f"SES {code or status}: {text}"
    # SES v1 reported the daily quota as `Throttling`, v2 as `LimitExceededException`: both say it in
    # the message, and it stops the whole send until the 24-hour window moves on.
    if "daily message quota" in text.lower() or "sending quota" in text.lower():
        return SendPausedError(reason)
    if code in THROTTLED or status == 429:
        return ThrottledError(reason, retry_after=_seconds(retry_after))
    if code in ROW_REJECTED:
        return PermanentError(reason)
    if code in PAUSES or status in (401, 403):
        return SendPausedError(reason)
    if status >= 500:  # SES failed before accepting the message (DESIGN: "5xx before send")
        return RetryableError(reason, retry_after=_seconds(retry_after))
    return SendPausedError(reason)  # an error we do not know: stop rather than fail every row


def classify_client_error(error: ClientError) -> TransportError:
    info = error.response.get("Error", {})
    meta = error.response.get("ResponseMetadata", {})
    return classify_error(info.get("Code", ""), info.get("Message", "") or str(error), meta.get("HTTPStatusCode", 0),
                          meta.get("HTTPHeaders", {}).get("retry-after"))


def classify(exc: Exception) -> TransportError:
    if isinstance(exc, ClientError):
        return classify_client_error(exc)
    if isinstance(exc, BotoConnectionError):  # could not connect: the request never left
        return ConnectionFailedError(f"SES endpoint unreachable: {exc}")
    if isinstance(exc, HTTPClientError):  # read timeout, connection closed after the request was sent
        return OutcomeUnknownError(f"SES call interrupted after the request was sent: {exc}")
    if isinstance(exc, (NoCredentialsError, NoRegionError)):
        return SendPausedError(f"AWS configuration: {exc}")
    if isinstance(exc, ParamValidationError):
        return PermanentError(f"SES request invalid: {exc}")
    return SendPausedError(f"SES client error: {exc}")


class SesTransport:
    name = "ses"
    paced = True

    def __init__(self, configuration_set: str | None = None, endpoint_url: str | None = None,
                 pool_size: int = 64, read_timeout: float = 30.0, session: boto3.session.Session | None = None,
                 lean: bool = True):
        self.configuration_set = configuration_set
        self.endpoint_url = endpoint_url
        self._args = dict(configuration_set=configuration_set, endpoint_url=endpoint_url, pool_size=pool_size,
                          read_timeout=read_timeout, lean=lean)
        session = session or _session()
        # One pooled connection per call in flight; request validation off: we build the request
        # ourselves and SES validates it anyway (it costs CPU on every call).
        self._config = Config(retries={"total_max_attempts": 1}, connect_timeout=CONNECT_TIMEOUT,
                              read_timeout=read_timeout, max_pool_connections=max(10, pool_size),
                              parameter_validation=False)
        try:
            self.client = session.client("sesv2", endpoint_url=endpoint_url, config=self._config)
            self._v1 = session.client("ses", endpoint_url=endpoint_url, config=self._config)
            # SendEmail through the lean path (ses_lean: same request, a fraction of the CPU) unless asked
            # not to or unable to send exactly what boto3 would (then `lean` is None and boto3 sends).
            self.lean = LeanSendEmail.for_client(session, self.client, configuration_set=configuration_set,
                                                 connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout,
                                                 pool_size=max(10, pool_size)) if lean else None
        except NoRegionError as exc:
            raise ConfigError(missing_region(session.profile_name)) from exc
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."; ses_lean: not http(s)
            raise ConfigError(f"MAILER_SES_ENDPOINT_URL is not a usable http(s) URL ({exc})") from exc
        self.region = self.client.meta.region_name

    def clone(self) -> "SesTransport":
        """A new client for a forked sender process (connections must not be shared across a fork)."""
        return SesTransport(**self._args)

    def send(self, message: OutgoingMessage) -> str:
        if self.lean is not None:
            try:
                return self.lean.send(message)
            except BotoCoreError as exc:  # from the credential chain or the signer
                raise classify(exc) from exc
        request = {
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": message.raw}},
            "EmailTags": [{"Name": k, "Value": v} for k, v in message.tags.items()],
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            return self.client.send_email(**request)["MessageId"]
        except (BotoCoreError, ClientError) as exc:
            raise classify(exc) from exc

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return None  # SES cannot be asked; its Send events reconcile `unknown` rows later

    def limits(self) -> AccountLimits | None:
        try:
            account = self.client.get_account()
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, (NoCredentialsError, NoRegionError)):
                raise ConfigError(f"AWS credentials or region missing for the ses transport: {exc}") from exc
            log.info("sesv2 GetAccount unavailable (%s); falling back to GetSendQuota", exc)
            return self._v1_limits()
        quota = account.get("SendQuota", {})
        paused = None
        if account.get("SendingEnabled") is False:
            paused = "SES sending is disabled for this account (SendingEnabled=false)"
        elif account.get("EnforcementStatus") == "SHUTDOWN":
            paused = "SES account is suspended (EnforcementStatus=SHUTDOWN)"
        return AccountLimits(max_send_rate=quota.get("MaxSendRate"), max_24h=quota.get("Max24HourSend"),
                             sent_24h=quota.get("SentLast24Hours", 0.0), paused_reason=paused)

    def _v1_limits(self) -> AccountLimits | None:
        try:
            quota = self._v1.get_send_quota()
        except (ClientError, BotoCoreError) as exc:
            log.warning("cannot read the SES sending quota (%s); pacing at the configured rate only", exc)
            return None
        return AccountLimits(max_send_rate=quota.get("MaxSendRate"), max_24h=quota.get("Max24HourSend"),
                             sent_24h=quota.get("SentLast24Hours", 0.0))

    def describe(self, batch: str) -> str:
        return f"SES {self.endpoint_url or self.region}"

    def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        self.client.close()
        self._v1.close()
