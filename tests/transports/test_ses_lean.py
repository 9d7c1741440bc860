"""The lean SendEmail path (mailer/transports/ses_lean.py): the same request boto3 sends, signed
with
the session's (refreshing) credentials, and every SES answer classified as the boto3 path does."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import ClientError

from mailer.errors import (
    ConfigError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
)
from mailer.transports.base import OutgoingMessage
from mailer.transports.ses import SesTransport
from mailer.transports.ses_errors import classify_client_error
from mailer.transports.ses_lean import error_fields, parse_response
from tests.send import fakeses

MESSAGE = OutgoingMessage(
    delivery_id=7,
    send_id=3,
    recipient="Ada <ada@example.com>",
    raw=b"Subject: hi\r\n\r\nbody\r\n",
    batch="b",
    tags={"send_id": "3", "delivery_id": "7"},
)

# (status, code, message) -> the error the send loop acts on; the same table for both paths.
ANSWERS = [
    (429, "TooManyRequestsException", "Maximum sending rate exceeded.", ThrottledError),
    (400, "Throttling", "Rate exceeded", ThrottledError),
    (400, "LimitExceededException", "Daily message quota exceeded.", SendPausedError),
    (400, "SendingPausedException", "Sending is paused for this account.", SendPausedError),
    (400, "AccountSuspendedException", "Account suspended.", SendPausedError),
    (400, "MessageRejected", "Email address is not verified.", PermanentError),
    (400, "BadRequestException", "Missing final '@domain'", PermanentError),
    (403, "UnrecognizedClientException", "The security token is invalid.", SendPausedError),
    (500, "InternalFailure", "oops", RetryableError),
    (400, "SomethingNew", "?", SendPausedError),
]


def lean_transport(url: str, **kwargs) -> SesTransport:
    transport = SesTransport(endpoint_url=url, **kwargs)
    assert transport.lean is not None
    return transport


def test_body_is_the_document_boto3_sends(fake_ses):
    lean = lean_transport(fake_ses.url, configuration_set='news"letter').lean
    document = json.loads(lean.body(MESSAGE))
    assert document == {
        "Content": {"Raw": {"Data": "U3ViamVjdDogaGkNCg0KYm9keQ0K"}},
        "Destination": {"ToAddresses": ["Ada <ada@example.com>"]},
        "EmailTags": [{"Name": "send_id", "Value": "3"}, {"Name": "delivery_id", "Value": "7"}],
        "ConfigurationSetName": 'news"letter',
    }


def test_send_returns_the_message_id_and_the_endpoint_got_the_raw_mime(fake_ses):
    transport = lean_transport(fake_ses.url, configuration_set="newsletter")
    message_id = transport.send(MESSAGE)
    [received] = fake_ses.received
    assert received.message_id == message_id and received.address == "Ada <ada@example.com>"
    assert received.raw == MESSAGE.raw and received.tags == MESSAGE.tags
    transport.close()


def test_signature_is_what_botocore_computes_for_the_request_as_received(fake_ses):
    lean_transport(fake_ses.url).send(MESSAGE)
    method, path, headers, body = fake_ses.last_request
    assert headers["host"] == fake_ses.url.removeprefix("http://")
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(signed)
    # Recompute the signature of the request as received (its signed headers, its body, its time).
    request = AWSRequest(
        method, fake_ses.url + path, data=body, headers={k: headers[k] for k in signed}
    )
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials("testing", "testing", "testing"), "ses", "us-east-1")
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    assert headers["authorization"].endswith(f"Signature={expected}")
    assert "/us-east-1/ses/aws4_request" in headers["authorization"]


def test_expiring_credentials_are_refreshed_between_calls(fake_ses):
    keys = iter(["AKIAFIRST", "AKIASECOND", "AKIATHIRD"])

    def refresh():
        # Inside botocore's mandatory refresh window (10 minutes): every use refreshes.
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        return {
            "access_key": next(keys),
            "secret_key": "s",
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }

    session = boto3.session.Session()
    session._session._credentials = RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test"
    )
    transport = lean_transport(fake_ses.url, session=session)
    transport.send(MESSAGE)
    first = fake_ses.last_request[2]["authorization"]
    transport.send(MESSAGE)
    second = fake_ses.last_request[2]["authorization"]
    assert "Credential=AKIASECOND/" in first and "Credential=AKIATHIRD/" in second


def test_missing_credentials_pause_the_send(fake_ses, monkeypatch):
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(key)
    with pytest.raises(SendPausedError, match="Unable to locate credentials"):
        lean_transport(fake_ses.url).send(MESSAGE)
    assert fake_ses.received == []


@pytest.mark.parametrize("status, code, text, expected", ANSWERS)
def test_each_error_answer_is_classified_as_on_the_boto3_path(
    fake_ses, status, code, text, expected
):
    fake_ses.faults = lambda address, seen: fakeses.error(status, code, text)
    with pytest.raises(expected) as lean_error:
        lean_transport(fake_ses.url).send(MESSAGE)
    boto3_transport = SesTransport(endpoint_url=fake_ses.url, lean=False)
    assert boto3_transport.lean is None
    with pytest.raises(expected) as boto3_error:
        boto3_transport.send(MESSAGE)
    assert str(lean_error.value) == str(boto3_error.value)
    assert code in str(lean_error.value) and text in str(lean_error.value)


def test_error_code_from_the_body_when_the_header_is_missing():
    body = json.dumps(
        {"__type": "com.amazonaws.ses#MessageRejected", "message": "bad address"}
    ).encode()
    assert error_fields(400, {}, body) == ("MessageRejected", "bad address")
    assert (
        error_fields(400, {"x-amzn-errortype": "Throttling:http://internal.amazon.com/"}, b"{}")[0]
        == "Throttling"
    )
    with pytest.raises(RetryableError, match="SES 502: <html>bad gateway</html>"):
        parse_response(502, {}, b"<html>bad gateway</html>")


def test_retry_after_is_passed_on():
    with pytest.raises(ThrottledError) as error:
        parse_response(429, {"retry-after": "3"}, b'{"message": "slow down"}')
    assert error.value.retry_after == 3.0


def test_a_200_without_message_id_is_unknown_not_retried():
    with pytest.raises(OutcomeUnknownError):
        parse_response(200, {}, b"{}")


def test_connection_refused_is_retryable_nothing_was_sent():
    transport = lean_transport("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(RetryableError, match="unreachable") as error:
        transport.send(MESSAGE)
    assert not isinstance(error.value, ThrottledError)


def test_a_proxy_for_the_endpoint_keeps_the_boto3_call(fake_ses, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert SesTransport(endpoint_url="http://ses.internal.example").lean is None


@pytest.mark.parametrize("url", ["foo", "ftp://ses.example", "http://"])
def test_a_bad_endpoint_url_is_one_clear_config_error(url):
    with pytest.raises(
        ConfigError, match="^MAILER_SES_ENDPOINT_URL is not a usable http\\(s\\) URL"
    ):
        SesTransport(endpoint_url=url)


def test_boto3_classifier_unchanged_for_client_errors():
    error = ClientError(
        {
            "Error": {"Code": "MessageRejected", "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "SendEmail",
    )
    assert isinstance(classify_client_error(error), PermanentError)
