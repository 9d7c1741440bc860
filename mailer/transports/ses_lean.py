"""A lean SES v2 `SendEmail`: the request boto3 would send, built and sent with a fraction of its
CPU.

Why: boto3's `send_email` costs ~2 ms of CPU per call for a ~100 KB raw message on our development
machine (JSON-encoding the base64 body through the generic serialiser, ~20 event handlers, the
user-agent builder, botocore's HTTP wrapper, response parsing); at 1,000 msg/s that alone needs two
cores. This path keeps what must stay boto3's and replaces only the per-call machinery:

- region, credentials (incl. refresh: `get_frozen_credentials()` per call), endpoint (the client's
  resolved `endpoint_url`, so `MAILER_SES_ENDPOINT_URL`, FIPS and partitions behave as in boto3) and
  the signing name come from the boto3 client and session; the signature is SigV4, computed by
  `sigv4.SigV4Signer` (botocore's `SigV4Auth` for an endpoint path that would need normalising);
- the JSON body is a template: base64 of the MIME bytes goes straight between two constant byte
  strings (the base64 alphabet needs no JSON escaping); the address and tags go through
  `json.dumps`;
- keep-alive HTTP/1.1 connections from urllib3's pool (`http_pool.OriginPool`: TLS verified with the
  CA bundle boto3 uses, answers over 1 MiB refused), no retries (the send loop retries and counts);
- the answer is classified exactly like a botocore ClientError (`ses_errors.classify_error`).

Used only when the endpoint is reached directly: with a proxy configured for it the transport keeps
the boto3 call (see `LeanSendEmail.for_client`). GetAccount/GetSendQuota always use the boto3
client.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlsplit

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import NoCredentialsError
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

from mailer import __version__
from mailer.errors import (
    ConfigError,
    ConnectionFailedError,
    OutcomeUnknownError,
    SendPausedError,
    TransportError,
)
from mailer.transports.base import OutgoingMessage
from mailer.transports.http_pool import ConnectFailed, ExchangeFailed, OriginPool
from mailer.transports.ses_errors import classify_error
from mailer.transports.sigv4 import LazyCredentials, SigV4Signer, plain_path

log = logging.getLogger(__name__)

PATH = "/v2/email/outbound-emails"  # sesv2 SendEmail: POST, rest-json


class LeanSendEmail:
    """`send(message) -> MessageId`, raising the same TransportError subclasses as the boto3 path.
    Thread-safe: the pool hands each call its own connection."""

    def __init__(
        self,
        *,
        url: str,
        credentials,
        signing_name: str,
        region: str,
        configuration_set: str | None,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        user_agent: str,
        ca_certs: str | None = None,
    ):
        self.url = url.rstrip("/") + PATH
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {url!r}")
        self._credentials = credentials
        self._signing = (signing_name, region)
        # The Host header is set here and signed, so that what SigV4 signed is what goes out.
        self._host = parts.netloc.rpartition("@")[2]
        self._user_agent = user_agent
        # ConfigurationSetName is the same for every message: part of the constant tail.
        self._tail = b"]"
        if configuration_set:
            self._tail += b',"ConfigurationSetName":' + json.dumps(configuration_set).encode()
        self._tail += b"}"
        try:
            self._pool = OriginPool(
                parts.scheme,
                parts.hostname,
                parts.port,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                maxsize=pool_size,
                ca_certs=ca_certs,
            )
        except (
            OSError
        ) as exc:  # the CA bundle (ssl.SSLError included: not PEM); else every call would fail
            raise ConfigError(
                f"cannot load the CA bundle {ca_certs} for the SES endpoint ({exc}): point "
                f"AWS_CA_BUNDLE (or ca_bundle in the AWS config) at a PEM file, or unset it"
            ) from exc
        self._path = parts.path
        self._signer = (
            SigV4Signer(
                service=signing_name,
                region=region,
                host=self._host,
                path=self._path,
                content_type="application/json",
            )
            if plain_path(self._path)
            else None
        )

    @classmethod
    def for_client(
        cls,
        session,
        client,
        *,
        configuration_set: str | None,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
    ) -> LeanSendEmail | None:
        """The lean path for this boto3 client, or None where it would not send what boto3 sends."""
        meta = client.meta
        url = meta.endpoint_url
        if (
            meta.config.signature_version not in (None, "v4")
            or meta.config.proxies
            or get_environ_proxies(url)
        ):
            log.info(
                "SES calls go through boto3's send_email (proxy or non-default signing configured)"
            )
            return None
        # The CA bundle boto3 would verify with: `ca_bundle` / AWS_CA_BUNDLE, else botocore's
        # default.
        botocore_session = getattr(session, "_session", None)
        bundle = botocore_session.get_config_variable("ca_bundle") if botocore_session else None
        return cls(
            url=url,
            credentials=LazyCredentials(session),
            signing_name=meta.service_model.signing_name,
            region=meta.region_name,
            configuration_set=configuration_set,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_size=pool_size,
            ca_certs=get_cert_path(bundle or True),
            user_agent=f"mailer/{__version__} botocore/{botocore.__version__}",
        )

    def body(self, message: OutgoingMessage) -> bytes:
        """The JSON document boto3 serialises for SendEmail (same members, `Content.Raw.Data`
        base64)."""
        tags = ",".join(
            f'{{"Name":{json.dumps(k)},"Value":{json.dumps(v)}}}' for k, v in message.tags.items()
        )
        return b"".join(
            (
                b'{"Content":{"Raw":{"Data":"',
                base64.b64encode(message.raw),
                b'"}},"Destination":{"ToAddresses":[',
                json.dumps(message.recipient).encode(),
                b']},"EmailTags":[',
                tags.encode(),
                self._tail,
            )
        )

    def signed_headers(self, body: bytes) -> dict[str, str]:
        credentials = self._credentials.frozen()
        if credentials is None:
            raise SendPausedError(f"AWS configuration: {NoCredentialsError()}")
        headers = {
            "Host": self._host,
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
        }
        if self._signer is not None:
            return headers | self._signer.headers(credentials, body)
        request = AWSRequest("POST", self.url, data=body, headers=headers)
        SigV4Auth(credentials, *self._signing).add_auth(request)  # a path that needs normalising
        return dict(request.headers.items())

    def send(self, message: OutgoingMessage) -> str:
        body = self.body(message)
        try:
            status, answer_headers, data = self._pool.post(
                self._path, self.signed_headers(body), body
            )
        # As in ses_errors.classify for botocore's errors: a connection that could not be made (TLS
        # handshake included) is retryable, anything after the request left is unknown
        # (http_pool.FAILURES).
        except ConnectFailed as exc:
            raise ConnectionFailedError(f"SES endpoint unreachable: {self.url}: {exc}") from exc
        except ExchangeFailed as exc:
            raise OutcomeUnknownError(
                f"SES call interrupted after the request was sent: {exc}; endpoint URL: "
                f'"{self.url}"'
            ) from exc
        return parse_response(status, answer_headers, data)

    def close(self) -> None:
        self._pool.close()


def error_fields(status: int, headers: dict[str, str], data: bytes) -> tuple[str, str]:
    """(code, message) of a rest-json error answer (`headers` looked up by lower-case name:
    urllib3's are case-insensitive), read where botocore reads them: the `x-amzn-ErrorType` header
    ("Code:http://..."), else the body's `__type` or `code` ("namespace#Code"); the message is the
    body's `message` or `Message`."""
    try:
        document = json.loads(data) if data else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    code = (headers.get("x-amzn-errortype") or "").split(":")[0]
    if not code:
        code = str(document.get("__type") or document.get("code") or "").rpartition("#")[2]
    text = document.get("message") or document.get("Message") or ""
    if not code and not text:  # not an AWS error document (a proxy's HTML page, an empty 503)
        code, text = str(status), data[:200].decode("utf-8", "replace").strip()
    return code, str(text)


def parse_response(status: int, headers: dict[str, str], data: bytes) -> str:
    if status == 200:
        try:
            return json.loads(data)["MessageId"]
        except (ValueError, KeyError, TypeError) as exc:
            # SES accepted the request, so the message may well go out: not a failure to retry.
            raise OutcomeUnknownError(
                f"SES answered 200 without a MessageId: {data[:200]!r}"
            ) from exc
    code, text = error_fields(status, headers, data)
    error: TransportError = classify_error(code, text, status, headers.get("retry-after"))
    raise error
