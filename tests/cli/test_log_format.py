"""`mailer --log-format json|text` (or MAILER_LOG_FORMAT): the log lines of a command on stderr, as
an operator's log collector reads them. The command that logs here: `events poll` against moto (SQS
in server mode) with a message on the queue that is no SES event, which it logs and leaves."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid

import boto3
import pytest

from mailer.cli.logs import formatter
from tests.conftest import SECRET

REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:ses-events"


@pytest.fixture
def poll(moto_url, engine, database_url, tmp_path):
    """`mailer ... events poll --once` (extra arguments before `events`) with one message on the
    queue that is not JSON; the CompletedProcess."""
    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
    }
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue_url = sqs.create_queue(QueueName=f"ses-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def run(*global_args: str, env: dict[str, str] | None = None):
        sqs.send_message(QueueUrl=queue_url, MessageBody="this is no SES event")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "AWS_"))}
        environ.update(aws)
        environ.update(
            {
                "DATABASE_URL": database_url,
                "MAILER_SECRET_KEY": SECRET,
                "MAILER_SQS_QUEUE_URL": queue_url,
                "MAILER_SNS_TOPIC_ARNS": TOPIC,
            }
        )
        environ.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "mailer", *global_args, "events", "poll", "--once"]
            + ["--wait-seconds", "0"],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def test_json_logs_are_one_object_per_line(poll):
    result = poll("--log-format", "json")
    assert result.returncode == 0, result.stderr
    assert "1 left for the dead-letter queue" in result.stdout, result.stdout  # stdout: the answer
    lines = result.stderr.splitlines()
    assert lines, "the poll logged nothing"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    left = [r for r in records if "dead-letter queue" in r["message"]]
    assert len(left) == 1, records
    assert left[0]["level"] == "ERROR" and left[0]["logger"].startswith("mailer.track")
    stamp = dt.datetime.fromisoformat(left[0]["ts"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=5)


def test_the_environment_chooses_json_and_the_flag_wins(poll):
    from_env = poll(env={"MAILER_LOG_FORMAT": "json"})
    assert json.loads(from_env.stderr.splitlines()[-1])["level"] == "ERROR"
    flag = poll("--log-format", "text", env={"MAILER_LOG_FORMAT": "json"})
    assert not flag.stderr.lstrip().startswith("{"), flag.stderr


def test_text_logs_are_one_line_per_event(poll):
    result = poll()  # text is the default
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if "dead-letter queue" in x)
    assert re.match(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR mailer\.track\S* SQS message \S+ left",
        line,
    ), line


def test_a_bad_log_format_setting_is_one_line(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    result = subprocess.run(
        [sys.executable, "-m", "mailer", "status", "--issue", "latest"],
        cwd=tmp_path,
        env=environ | {"MAILER_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: environment variable MAILER_LOG_FORMAT: invalid value 'xml': "
        "must be one of text, json"
    )


def test_json_carries_the_exception_and_the_extra_fields():
    """log.exception(..., extra=...) through a logger, as the package's modules call it."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(formatter("json"))
    log = logging.getLogger("mailer.test_log_format")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError("the provider hung up")
        except RuntimeError:
            log.exception("sent %d of %d", 3, 4, extra={"send_id": 7, "list": "ai-morning-post"})
    finally:
        log.removeHandler(handler)
    (line,) = written.getvalue().splitlines()  # the traceback too: one line
    out = json.loads(line)
    assert out["message"] == "sent 3 of 4" and out["level"] == "ERROR"
    assert out["logger"] == "mailer.test_log_format"
    assert out["send_id"] == 7 and out["list"] == "ai-morning-post"
    assert out["exception"].startswith("Traceback") and "the provider hung up" in out["exception"]
    assert set(out) == {"ts", "level", "logger", "message", "exception", "send_id", "list"}
