"""Every exception the package defines, in one tree (ARCHITECTURE.md, "Layers and rules").

The CLI turns every MailerError into one line and exit code 1. Most live here; an error that belongs
to one edge is defined there and named here with its module in brackets (its children share it).
tests/test_architecture.py fails when a class is missing, misplaced or no longer defined.

    MailerError                    one clear line for the operator
    ├── ConfigError                a setting is missing or malformed (names the setting)
    ├── ContentError               an issue or list file is invalid (file:line: what is wrong)
    ├── NotFoundError              an issue, list or subscriber that does not exist
    ├── ImportFileError            a subscriber CSV cannot be read at all
    ├── SendError                  a send cannot start or continue (paused, nothing to send to)
    ├── SourceError [mailer.content.source_errors]  a trending source failed this time
    │   ├── SourceUnavailableError timeout, network down, 5xx: the newest snapshot is used
    │   ├── RateLimitedError       429 or an exhausted quota; says when it resets
    │   ├── SourceDataError        the answer is not what the API documents (JSON, shape)
    │   └── EmptyResultError       the source answered with nothing to show
    ├── StaleTrendingError [mailer.content.source_errors]  --require-fresh: snapshot too old
    ├── EventParseError [mailer.track.ses_events]  an SES notification we cannot understand
    ├── SignatureError [mailer.track.sns]  an SNS envelope that must not be trusted
    │   ├── CertificateFetchError  its certificate could not be fetched (ours: SNS retries)
    │   └── CertificateMissingError  no certificate at that URL: the envelope is forged
    └── TransportError             one message could not be handed over
        ├── RetryableError         try again later: throttling, 5xx before the message was accepted
        │   ├── ThrottledError     the provider asked us to slow down
        │   └── ConnectionFailedError  the provider could not be reached: nothing was handed over
        ├── PermanentError         this message will never go: rejected, bad address
        ├── OutcomeUnknownError    the request may or may not have been accepted (timeout, dropped)
        └── SendPausedError        the whole send must stop: quota exhausted, account paused
    ValueError                     bad input, answered where it is read (form, CSV row, link page)
    ├── InvalidAddress [mailer.addresses]  not an address we accept (the reason says why)
    │   └── UndeliverableAddress   valid syntax that no message of ours can carry
    └── TokenError [mailer.tokens]  a link token tampered, forged, for another purpose or expired
    click.ClickException
    └── Refused [mailer.cli.send]  a send needs the operator's yes and cannot ask: exit code 2
    Exception                      signals inside one edge, never raised past it
    ├── LeaseLost [mailer.autopilot.lease]  another autopilot took the day: stop working it
    ├── ConnectFailed [mailer.transports.http_pool]  no byte of the request left
    ├── ExchangeFailed [mailer.transports.http_pool]  the request may have arrived: outcome unknown
    ├── _NotConnected [mailer.transports.http_pool]  connect() failed: nothing was written
    └── _NothingAccepted [mailer.transports.smtp]  421 or lost before the final dot: retry once
"""

from __future__ import annotations


class MailerError(Exception):
    """Base of every error the operator should see as one clear line."""


class ConfigError(MailerError):
    pass


class ContentError(MailerError):
    def __init__(self, path: object, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class NotFoundError(MailerError):
    pass


class ImportFileError(MailerError):
    pass


class SendError(MailerError):
    pass


class TransportError(MailerError):
    pass


class RetryableError(TransportError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    pass


class ConnectionFailedError(RetryableError):
    """No connection to the provider (refused, unreachable, no greeting): the message never left.
    The send loop pauses the whole send when this lasts (MAILER_TRANSPORT_DOWN_AFTER)."""


class PermanentError(TransportError):
    pass


class OutcomeUnknownError(TransportError):
    pass


class SendPausedError(TransportError):
    pass
