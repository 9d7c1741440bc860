"""Amazon SES v2 `SendEmail` with `Content.Raw`: our MIME, one recipient per call.

SendEmail goes through the lean path in ses_lean.py (same request, ~1/3 of boto3's CPU per call);
the boto3 client serves GetAccount/GetSendQuota and SendEmail where the lean path does not apply.
SDK retries are off for the send call: the send loop retries and counts attempts. What an SES answer
means is decided in ses_errors.py, for both paths. The clients come from mailer.aws (region and
credentials from the boto3 chain).
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from mailer import aws
from mailer.errors import ConfigError
from mailer.transports.base import AccountLimits, OutgoingMessage
from mailer.transports.ses_errors import classify
from mailer.transports.ses_lean import LeanSendEmail

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds; a connection that cannot be made sent nothing (retryable)


class SesTransport:
    name = "ses"
    paced = True

    def __init__(
        self,
        configuration_set: str | None = None,
        endpoint_url: str | None = None,
        pool_size: int = 64,
        read_timeout: float = 30.0,
        session: aws.Session | None = None,
        lean: bool = True,
    ):
        self.configuration_set = configuration_set
        self.endpoint_url = endpoint_url
        self._args = dict(
            configuration_set=configuration_set,
            endpoint_url=endpoint_url,
            pool_size=pool_size,
            read_timeout=read_timeout,
            lean=lean,
        )
        session = session or aws.session()
        self._config = aws.ses_send_config(
            connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout, pool_size=max(10, pool_size)
        )
        where = dict(
            endpoint_url=endpoint_url, config=self._config, on=session, purpose="the ses transport"
        )
        try:
            self.client = aws.client("sesv2", **where)
            self._v1 = aws.client("ses", **where)
            # SendEmail through the lean path (ses_lean: same request, a fraction of the CPU) unless
            # asked
            # not to or unable to send exactly what boto3 would (then `lean` is None and boto3
            # sends).
            self.lean = (
                LeanSendEmail.for_client(
                    session,
                    self.client,
                    configuration_set=configuration_set,
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=read_timeout,
                    pool_size=max(10, pool_size),
                )
                if lean
                else None
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."; ses_lean: not http(s)
            raise ConfigError(
                f"MAILER_SES_ENDPOINT_URL is not a usable http(s) URL ({exc})"
            ) from exc
        self.region = self.client.meta.region_name

    def clone(self) -> SesTransport:
        """A new client for a forked sender process (connections must not be shared across a
        fork)."""
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
                raise ConfigError(
                    f"AWS credentials or region missing for the ses transport: {exc}"
                ) from exc
            log.info("sesv2 GetAccount unavailable (%s); falling back to GetSendQuota", exc)
            return self._v1_limits()
        quota = account.get("SendQuota", {})
        paused = None
        if account.get("SendingEnabled") is False:
            paused = "SES sending is disabled for this account (SendingEnabled=false)"
        elif account.get("EnforcementStatus") == "SHUTDOWN":
            paused = "SES account is suspended (EnforcementStatus=SHUTDOWN)"
        return AccountLimits(
            max_send_rate=quota.get("MaxSendRate"),
            max_24h=quota.get("Max24HourSend"),
            sent_24h=quota.get("SentLast24Hours", 0.0),
            paused_reason=paused,
        )

    def _v1_limits(self) -> AccountLimits | None:
        try:
            quota = self._v1.get_send_quota()
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "cannot read the SES sending quota (%s); pacing at the configured rate only", exc
            )
            return None
        return AccountLimits(
            max_send_rate=quota.get("MaxSendRate"),
            max_24h=quota.get("Max24HourSend"),
            sent_24h=quota.get("SentLast24Hours", 0.0),
        )

    def describe(self, batch: str) -> str:
        return f"SES {self.endpoint_url or self.region}"

    def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        self.client.close()
        self._v1.close()
