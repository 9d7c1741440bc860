"""sigv4.SigV4Signer against botocore's SigV4Auth: the same Authorization for the same request."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mailer.transports.sigv4 import SigV4Signer, plain_path

WHEN = dt.datetime(2026, 11, 22, 23, 59, 58, tzinfo=dt.UTC)


def botocore_signature(
    creds: Credentials, region: str, host: str, path: str, body: bytes, signed: dict
) -> str:
    """botocore's signature for the request carrying exactly the `signed` headers we sent."""
    request = AWSRequest("POST", f"https://{host}{path}", data=body, headers=signed)
    request.context["timestamp"] = signed["X-Amz-Date"]
    auth = SigV4Auth(creds, "ses", region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def sent_headers(ours: dict, host: str) -> dict:
    signed = {"Content-Type": "application/json", "Host": host, "X-Amz-Date": ours["X-Amz-Date"]}
    if "X-Amz-Security-Token" in ours:
        signed["X-Amz-Security-Token"] = ours["X-Amz-Security-Token"]
    return signed


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//temporary  token=="])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
@pytest.mark.parametrize(
    "body", [b"", b'{"Content":{"Raw":{"Data":"QUJD"}}}', bytes(range(256)) * 400]
)
def test_the_signature_is_botocores(token, region, body):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    host, path = f"email.{region}.amazonaws.com", "/v2/email/outbound-emails"
    signer = SigV4Signer(
        service="ses",
        region=region,
        host=host,
        path=path,
        content_type="application/json",
        clock=WHEN.timestamp,
    )
    ours = signer.headers(creds.get_frozen_credentials(), body)
    expected = botocore_signature(creds, region, host, path, body, sent_headers(ours, host))
    assert ours["X-Amz-Date"] == "20261122T235958Z"
    assert ours["Authorization"].endswith(f"Signature={expected}")
    scope = f"AKIDEXAMPLE/20261122/{region}/ses/aws4_request"
    names = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "")
    assert (
        ours["Authorization"]
        == f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={expected}"
    )
    assert ours.get("X-Amz-Security-Token") == token


def test_the_signing_key_follows_the_day_and_the_key():
    clock = [WHEN.timestamp()]
    signer = SigV4Signer(
        service="ses",
        region="us-east-1",
        host="h",
        path="/p",
        content_type="application/json",
        clock=lambda: clock[0],
    )
    first = Credentials("A", "secret-one").get_frozen_credentials()
    signer.headers(first, b"x")
    key_today = signer._key
    clock[0] += 3  # past midnight: a new day, a new key
    signer.headers(first, b"x")
    assert signer._key[1] == "20261123" and signer._key[2] != key_today[2]
    signer.headers(
        Credentials("A", "secret-two").get_frozen_credentials(), b"x"
    )  # refreshed credentials
    assert signer._key[0] == "secret-two"
    creds = Credentials("A", "secret-two")
    ours = signer.headers(creds.get_frozen_credentials(), b"x")
    assert ours["Authorization"].endswith(
        botocore_signature(creds, "us-east-1", "h", "/p", b"x", sent_headers(ours, "h"))
    )


@pytest.mark.parametrize(
    "path, plain",
    [
        ("/v2/email/outbound-emails", True),
        ("/prefix/v2/x", True),
        ("/a b", False),
        ("/a/../b", False),
        ("//x", False),
        ("/a%20b", False),
        ("relative", False),
    ],
)
def test_only_paths_without_normalisation_are_signed_here(path, plain):
    assert plain_path(path) is plain
    if not plain:
        with pytest.raises(ValueError, match="sign it with botocore"):
            SigV4Signer(
                service="ses", region="r", host="h", path=path, content_type="application/json"
            )


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//temporary  token=="])
@pytest.mark.parametrize("action", ["ReceiveMessage", "DeleteMessageBatch"])
def test_fixed_headers_are_sent_and_signed_as_botocore_signs_them(token, action):
    """The event poller's SQS calls (JSON protocol): X-Amz-Target is signed too."""
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    host, path, kind = "sqs.eu-west-1.amazonaws.com", "/", "application/x-amz-json-1.0"
    target = {"X-Amz-Target": f"AmazonSQS.{action}"}
    signer = SigV4Signer(
        service="sqs",
        region="eu-west-1",
        host=host,
        path=path,
        content_type=kind,
        fixed=target,
        clock=WHEN.timestamp,
    )
    body = b'{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/123456789012/ses-events"}'
    ours = signer.headers(creds.get_frozen_credentials(), body)
    assert ours["X-Amz-Target"] == f"AmazonSQS.{action}"
    sent = {"Content-Type": kind, "Host": host, "X-Amz-Date": ours["X-Amz-Date"], **target}
    if token:
        sent["X-Amz-Security-Token"] = token
    request = AWSRequest("POST", f"https://{host}{path}", data=body, headers=sent)
    request.context["timestamp"] = ours["X-Amz-Date"]
    auth = SigV4Auth(creds, "sqs", "eu-west-1")
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    names = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "")
    names += ";x-amz-target"
    assert ours["Authorization"].endswith(f"SignedHeaders={names}, Signature={expected}")


def test_fixed_headers_may_not_replace_the_signers_own():
    with pytest.raises(ValueError, match="host"):
        SigV4Signer(
            service="sqs",
            region="eu-west-1",
            host="h",
            path="/",
            content_type="application/x-amz-json-1.0",
            fixed={"Host": "elsewhere"},
        )
