"""Domain errors. The CLI turns every MailerError into one line and exit code 1.

    MailerError
    ├── ConfigError            a setting is missing or malformed (names the setting)
    ├── ContentError           an issue or list file is invalid (file:line: what is wrong)
    ├── NotFoundError          an issue, list or subscriber that does not exist
    ├── ImportFileError        a subscriber CSV cannot be read at all
    ├── SendError              a send cannot start or continue (paused, nothing to send to)
    └── TransportError         one message could not be handed over
        ├── RetryableError     try again later: throttling, 5xx before the message was accepted
        │   ├── ThrottledError the provider asked us to slow down
        │   └── ConnectionFailedError the provider could not be reached: nothing was handed over
        ├── PermanentError     this message will never go: rejected, bad address
        ├── OutcomeUnknownError the request may or may not have been accepted (timeout, dropped)
        └── SendPausedError    the whole send must stop: quota exhausted, account paused
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
    """No connection to the provider (refused, unreachable, no greeting): the message never left. The
    send loop pauses the whole send when this lasts (MAILER_TRANSPORT_DOWN_AFTER)."""


class PermanentError(TransportError):
    pass


class OutcomeUnknownError(TransportError):
    pass


class SendPausedError(TransportError):
    pass
