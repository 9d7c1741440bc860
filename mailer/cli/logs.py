"""The log lines of every `mailer` command: the root logger, configured once by the root group from
`--log-format` / MAILER_LOG_FORMAT (ARCHITECTURE.md, "Layers and rules": the library logs, the CLI
decides where and how). Lines go to stderr; stdout stays the command's answer.

text: `2026-11-22 06:31:00,123 INFO mailer.send.pipeline pausing the send: ...`, one line per event
(a traceback, when there is one, follows on its own lines).
json: one object per line for a log collector: ts (ISO 8601, UTC), level, logger, message, exception
(the traceback text, when there is one) and every `extra=` field of the call. python-json-logger
writes them: it serialises extras and exceptions, so no hand-made escaping here.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

PACKAGE_LOGGER = "mailer"  # every module logs as logging.getLogger(__name__)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The LogRecord attributes the json object carries, under the names a collector expects.
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
JSON_NAMES = {"levelname": "level", "name": "logger", "exc_info": "exception"}


class _CurrentStderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a record is written, not the one at set-up: a
    command run in-process (click's CliRunner, the tests) swaps sys.stderr per invocation."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, timestamp="ts")
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: str) -> None:
    """The root logger writes to stderr in `log_format` (text or json): the package's INFO and
    above, other libraries' WARNING and above (Alembic and botocore say a lot at INFO: plugins set
    up, credentials found). Called once per command; a second call (the next in-process invocation)
    replaces its own handler and leaves any other (pytest's capture) alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(handler)
    handler = _CurrentStderr()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(PACKAGE_LOGGER).setLevel(logging.INFO)
