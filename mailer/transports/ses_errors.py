"""One table from SES answers to our errors, for both SES paths.

The boto3 path hands over a botocore exception (a ClientError for an answer, others for a call
that never got one); the lean path (ses_lean) hands over the HTTP status, the error code and the
message it read from the answer. Both end in `classify_error`, so an answer means the same to the
ledger whichever path sent the call. Anything that may have reached SES before it failed (read
timeout, connection dropped after the request was written) is an unknown outcome, never retried
blindly.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from mailer.errors import (
    ConnectionFailedError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
    TransportError,
)

# Error codes: slow down (the row is retried later) ...
THROTTLED = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "LimitExceededException",
}
# ... this one message is refused for good ...
ROW_REJECTED = {"MessageRejected", "BadRequestException", "InvalidParameterValue"}
# ... or no message can go out until the operator acts (account, identity, credentials).
PAUSES = {
    "SendingPausedException",
    "AccountSuspendedException",
    "MailFromDomainNotVerifiedException",
    "NotFoundException",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: our own backoff applies
        return None


def classify_error(
    code: str, text: str, status: int, retry_after: str | None = None
) -> TransportError:
    """What an SES error answer means for the ledger row (and for the whole send)."""
    reason = f"SES {code or status}: {text}"
    # SES v1 reported the daily quota as `Throttling`, v2 as `LimitExceededException`: both say it
    # in the message, and it stops the whole send until the 24-hour window moves on.
    if "daily message quota" in text.lower() or "sending quota" in text.lower():
        return SendPausedError(reason)
    if code in THROTTLED or status == 429:
        return ThrottledError(reason, retry_after=_seconds(retry_after))
    if code in ROW_REJECTED:
        return PermanentError(reason)
    if code in PAUSES or status in (401, 403):
        return SendPausedError(reason)
    # SES failed before accepting the message (ARCHITECTURE.md, "The ledger": a 5xx is retried)
    if status >= 500:
        return RetryableError(reason, retry_after=_seconds(retry_after))
    return SendPausedError(reason)  # an error we do not know: stop rather than fail every row


def classify_client_error(error: ClientError) -> TransportError:
    """A botocore ClientError (an SES answer on the boto3 path), read as the lean path reads one."""
    info = error.response.get("Error", {})
    meta = error.response.get("ResponseMetadata", {})
    retry_after = meta.get("HTTPHeaders", {}).get("retry-after")
    return classify_error(
        info.get("Code", ""),
        info.get("Message", "") or str(error),
        meta.get("HTTPStatusCode", 0),
        retry_after,
    )


def classify(exc: Exception) -> TransportError:
    """Any botocore exception of an SES call."""
    if isinstance(exc, ClientError):
        return classify_client_error(exc)
    if isinstance(exc, BotoConnectionError):  # could not connect: the request never left
        return ConnectionFailedError(f"SES endpoint unreachable: {exc}")
    # A read timeout, or the connection closed after the request was sent.
    if isinstance(exc, HTTPClientError):
        return OutcomeUnknownError(f"SES call interrupted after the request was sent: {exc}")
    if isinstance(exc, (NoCredentialsError, NoRegionError)):
        return SendPausedError(f"AWS configuration: {exc}")
    if isinstance(exc, ParamValidationError):
        return PermanentError(f"SES request invalid: {exc}")
    return SendPausedError(f"SES client error: {exc}")
