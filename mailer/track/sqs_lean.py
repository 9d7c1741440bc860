"""The event poller's two repeated SQS calls, ReceiveMessage and DeleteMessageBatch, sent without
botocore's per-call machinery (ARCHITECTURE.md "Stages": track).

Why: botocore spends ~1.2 ms of CPU on a ReceiveMessage of 10 messages and ~0.9 ms on a
DeleteMessageBatch of 10 on our development machine (its ~20 event handlers, endpoint-ruleset
resolution, SigV4 through `email.message` headers, its HTTP wrapper, the response parser), which is
~215 µs of every event's ~330 µs budget at 3,000 events/s in one process (README, "Event intake").
This path, ~0.4 and ~0.3 ms, sends the request botocore sends for the JSON protocol: a POST of the
call's parameters as JSON to the endpoint, `X-Amz-Target: AmazonSQS.<Action>`, signed with SigV4
(`transports.sigv4`, X-Amz-Target included), over urllib3's keep-alive pool
(`transports.http_pool`), and reads the JSON answer, which for these two calls is what botocore
returns (the poller reads MessageId, ReceiptHandle and Body, and the batch's Successful/Failed).

What stays boto3's: region, credentials (from the session, frozen per call, so expiring ones are
refreshed), the endpoint URL (AWS_ENDPOINT_URL_SQS, FIPS, partitions: the client's resolved one),
the signing name, the CA bundle; every other call (`delete_message`, ...); and every call of these
two that does not come back 200 with a JSON object: it is made again through the boto3 client, so
that its retries, its errors and their messages are what the operator sees, as before. Redoing
either is safe: a ReceiveMessage whose answer was lost leaves its messages invisible until their
visibility timeout (as botocore's own retry does), and deleting a receipt handle twice is harmless.
Used only when botocore would sign with SigV4 and reach the endpoint directly (no proxy).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import botocore
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

from mailer import __version__
from mailer.transports.http_pool import ConnectFailed, ExchangeFailed, OriginPool
from mailer.transports.sigv4 import LazyCredentials, SigV4Signer, plain_path

log = logging.getLogger("mailer.track")

CONTENT_TYPE = "application/x-amz-json-1.0"  # botocore's for SQS (protocol "json", version 1.0)
# Ten messages of at most 1 MiB each (SQS's limit), their attributes and the JSON around them.
MAX_ANSWER_BYTES = 16 << 20


class LeanSqs:
    """Stands for the boto3 SQS client in `poll_queue`: `receive_message` and
    `delete_message_batch` take the same keyword arguments and return the same dicts (less
    ResponseMetadata); any other attribute is the boto3 client's. Thread-safe."""

    def __init__(self, client, credentials, *, pool_size: int, ca_certs: str | None):
        self._client = client
        url = urlsplit(client.meta.endpoint_url)
        self._host = url.netloc.rpartition("@")[2]
        self._path = url.path or "/"
        config = client.meta.config
        self._pool = OriginPool(
            url.scheme,
            url.hostname,
            url.port,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            maxsize=pool_size,
            ca_certs=ca_certs,
            max_answer_bytes=MAX_ANSWER_BYTES,
        )
        self._credentials = credentials
        self._user_agent = f"mailer/{__version__} botocore/{botocore.__version__}"
        self._signers = {
            action: SigV4Signer(
                service=client.meta.service_model.signing_name,
                region=client.meta.region_name,
                host=self._host,
                path=self._path,
                content_type=CONTENT_TYPE,
                fixed={"X-Amz-Target": f"AmazonSQS.{action}"},
            )
            for action in ("ReceiveMessage", "DeleteMessageBatch")
        }

    @classmethod
    def for_client(cls, session, client, *, pool_size: int) -> LeanSqs | None:
        """The lean path for this boto3 client, or None where it would not send what boto3 sends
        (a proxy, a signature other than SigV4, an endpoint path SigV4 would normalise)."""
        meta = client.meta
        url = meta.endpoint_url
        if (
            meta.config.signature_version not in (None, "v4")
            or meta.config.proxies
            or get_environ_proxies(url)
            or meta.service_model.protocol != "json"
            or not plain_path(urlsplit(url).path or "/")
        ):
            log.info("SQS calls go through boto3 (proxy, signing or protocol configured)")
            return None
        # The CA bundle boto3 verifies with: `ca_bundle` / AWS_CA_BUNDLE, else botocore's.
        botocore_session = getattr(session, "_session", None)
        bundle = botocore_session.get_config_variable("ca_bundle") if botocore_session else None
        try:
            return cls(
                client,
                LazyCredentials(session),
                pool_size=pool_size,
                ca_certs=get_cert_path(bundle or True),
            )
        except OSError as exc:  # the CA bundle: boto3 reports it on its first call, as before
            log.info("SQS calls go through boto3: the CA bundle %s: %s", bundle, exc)
            return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **params) -> dict:
        answer = self._call("ReceiveMessage", params)
        if answer is None or not isinstance(answer.get("Messages", []), list):
            return self._client.receive_message(**params)
        return answer

    def delete_message_batch(self, **params) -> dict:
        answer = self._call("DeleteMessageBatch", params)
        if answer is None:
            return self._client.delete_message_batch(**params)
        return answer

    def _call(self, action: str, params: dict) -> dict | None:
        """The answer of a 200 with a JSON object; None: redo it through boto3."""
        credentials = self._credentials.frozen()
        if credentials is None:
            return None
        body = json.dumps(params, separators=(",", ":")).encode()
        headers = {"Host": self._host, "Content-Type": CONTENT_TYPE, "User-Agent": self._user_agent}
        headers |= self._signers[action].headers(credentials, body)
        try:
            status, _, data = self._pool.post(self._path, headers, body)
        except (ConnectFailed, ExchangeFailed) as exc:
            log.info("SQS %s failed (%s): made again through boto3", action, exc)
            return None
        if status != 200:
            return None  # boto3 makes it again and raises (or retries) as it always did
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.info("SQS %s answered 200 without a JSON object: made again through boto3", action)
            return None
        return answer

    def close(self) -> None:
        self._pool.close()
