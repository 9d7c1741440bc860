"""Amazon SNS envelopes: signature verification, subscription confirmation, SQS bodies.

Verification follows the AWS guide "Verifying the signatures of Amazon SNS messages": the
string to sign is `Name\\nValue\\n` for a fixed list of fields in a fixed order per message type,
signed with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (SignatureVersion 2) by the
certificate at SigningCertURL. That URL is only trusted on an SNS host of the topic's region.

Certificates are fetched rarely (one per region, rotated every few years) and cached; a URL that
failed is remembered for a while, and only a few fetches may run at once, so that a flood of forged
envelopes naming many certificate URLs cannot make the receiver start unbounded outbound requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mailer.errors import MailerError

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    UNSUBSCRIBE_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_OPTIONAL_FIELDS = frozenset({"Subject"})

_CERT_HOST_RE = re.compile(r"^sns\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_CERT_PATH_RE = re.compile(r"^/SimpleNotificationService-[A-Za-z0-9]+\.pem$")
_TOPIC_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_.-]{1,256}$")

CERT_FETCH_TIMEOUT = 5.0
# How long a failed certificate URL is answered from memory. The certificate host answering "no such
# certificate" (4xx, or something that is not a certificate) is definitive: 5 minutes. Not reaching
# it
# (timeout, 5xx) is our problem and SNS retries the message (by default 3 times, 20 s apart): 15 s.
NEGATIVE_TTL = 300.0
TRANSIENT_TTL = 15.0
MAX_FETCHES = 4  # certificate fetches in flight at once, per cache (per web process / poller)
MAX_REMEMBERED_FAILURES = 1024


class SignatureError(MailerError):
    """The envelope must not be trusted. `retryable` is True when the failure is ours
    (the certificate could not be fetched), so a webhook answers 5xx and SNS retries."""

    retryable = False


class CertificateFetchError(SignatureError):
    retryable = True


class CertificateMissingError(SignatureError):
    """The certificate host answered, and there is no certificate at that URL: the envelope is
    forged."""


def _hash_for(version: Any):
    from cryptography.hazmat.primitives import hashes

    if version == "1":
        return hashes.SHA1()
    if version == "2":
        return hashes.SHA256()
    raise SignatureError(f"unsupported SignatureVersion {version!r}; only '1' and '2' are accepted")


def topic_region(topic_arn: str) -> tuple[str, str]:
    """(partition, region) of an SNS topic ARN; SignatureError when it is not one."""
    match = _TOPIC_ARN_RE.match(topic_arn or "")
    if not match:
        raise SignatureError(f"TopicArn {topic_arn!r} is not an SNS topic ARN")
    return match.group(1), match.group(2)


def check_cert_url(url: Any, topic_arn: str) -> str:
    """The URL itself when it names an SNS signing certificate of the topic's region."""
    if not isinstance(url, str):
        raise SignatureError("SigningCertURL is missing")
    parts = urlsplit(url)
    host = parts.hostname or ""
    # netloc must be exactly the host: no userinfo, no port (not even :443), no upper case.
    if parts.scheme != "https" or parts.netloc != host or parts.query or parts.fragment:
        raise SignatureError(f"SigningCertURL {url!r} is not a plain https URL")
    host_match = _CERT_HOST_RE.match(host)
    if not host_match or not _CERT_PATH_RE.match(parts.path):
        raise SignatureError(f"SigningCertURL {url!r} is not an Amazon SNS certificate URL")
    partition, region = topic_region(topic_arn)
    china = partition == "aws-cn"
    if host_match.group(1) != region or bool(host_match.group(2)) != china:
        raise SignatureError(f"SigningCertURL {url!r} does not belong to the region of {topic_arn}")
    return url


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """`Name\\nValue\\n` per signed field. A line break in any value but Message is refused: a
    MessageId of "id\\nSubject\\ns" without a Subject gives the same bytes as MessageId "id" with
    Subject "s", so a genuine signature would fit an envelope SNS never sent. SNS itself never puts
    one there (a Subject must not contain line breaks; ids, timestamps, ARNs, tokens and URLs
    cannot). Message may, and does (the SubscriptionConfirmation text): it comes first, so with
    every later value on one line the bytes still split into fields one way only."""
    kind = envelope.get("Type")
    if kind not in _SIGNED_FIELDS:
        raise SignatureError(f"unknown SNS message Type {kind!r}")
    lines: list[str] = []
    for name in _SIGNED_FIELDS[kind]:
        value = envelope.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise SignatureError(f"SNS {kind} field {name} is missing or not a string")
        if name != "Message" and ("\n" in value or "\r" in value):
            raise SignatureError(
                f"SNS {kind} field {name} contains a line break, which SNS never sends: "
                "refused as a forgery of the signed text"
            )
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def load_certificate(pem: bytes):
    """Parse a PEM certificate and return its RSA public key; SignatureError otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SignatureError(
            f"the signing certificate is not a PEM X.509 certificate: {exc}"
        ) from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the signing certificate does not hold an RSA key")
    return key


def fetch_cert_https(url: str) -> bytes:
    """Default certificate fetcher: a GET with a short timeout (TLS verified by requests)."""
    import requests

    try:
        response = requests.get(url, timeout=CERT_FETCH_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise CertificateFetchError(f"cannot fetch signing certificate {url}: {exc}") from None
    if 400 <= response.status_code < 500:
        raise CertificateMissingError(
            f"no signing certificate at {url}: HTTP {response.status_code}"
        )
    if response.status_code != 200:
        raise CertificateFetchError(
            f"cannot fetch signing certificate {url}: HTTP {response.status_code}"
        )
    return response.content


class CertCache:
    """Public keys by certificate URL, failures remembered for a while (NEGATIVE_TTL,
    TRANSIENT_TTL), at most `max_fetches` fetches at once and one per URL.

    A fetch beyond the cap is not queued: it fails at once as retryable (503, SNS retries; the SQS
    message stays on the queue), so a flood holds neither threads nor connections. The usual
    certificate is cached after the first message, so genuine traffic rarely needs a fetch.
    """

    def __init__(
        self, *, max_fetches: int = MAX_FETCHES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keys: dict[str, Any] = {}
        self._failures: dict[
            str, tuple[float, SignatureError]
        ] = {}  # url -> (until, what went wrong)
        self._fetching: dict[str, threading.Event] = {}
        self._slots = threading.BoundedSemaphore(max_fetches)
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, url: str, fetch_cert: Callable[[str], bytes]):
        while True:
            with self._lock:
                key = self._known(url)
                if key is not None:
                    return key
                running = self._fetching.get(url)
                if running is None:
                    if not self._slots.acquire(blocking=False):
                        raise CertificateFetchError(
                            "too many signing certificate fetches in progress; "
                            f"{url} not fetched now, try again later"
                        )
                    self._fetching[url] = threading.Event()
                    break
            # Someone else is fetching this URL: take their answer.
            if not running.wait(CERT_FETCH_TIMEOUT * 2):
                raise CertificateFetchError(
                    f"the signing certificate {url} is still being fetched; try again later"
                )
        try:
            key = self._fetch(url, fetch_cert)
        except SignatureError as exc:
            self._remember_failure(url, exc)
            raise
        finally:
            with self._lock:
                self._fetching.pop(url).set()
            self._slots.release()
        with self._lock:
            self._keys[url] = key
        return key

    def _known(self, url: str):
        """The cached key; raises the remembered failure while it lasts. Call with the lock held."""
        key = self._keys.get(url)
        if key is not None:
            return key
        failure = self._failures.get(url)
        if failure is not None:
            until, exc = failure
            if self._clock() < until:
                raise type(exc)(f"{exc} (remembered; not fetched again yet)")
            del self._failures[url]
        return None

    @staticmethod
    def _fetch(url: str, fetch_cert: Callable[[str], bytes]):
        try:
            pem = fetch_cert(url)
        except SignatureError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever an injected fetcher raises: "could not fetch"
            raise CertificateFetchError(f"cannot fetch signing certificate {url}: {exc}") from None
        return load_certificate(pem)

    def _remember_failure(self, url: str, exc: SignatureError) -> None:
        ttl = TRANSIENT_TTL if exc.retryable else NEGATIVE_TTL
        with self._lock:
            now = self._clock()
            if len(self._failures) >= MAX_REMEMBERED_FAILURES:
                self._failures = {u: f for u, f in self._failures.items() if f[0] > now}
                while (
                    len(self._failures) >= MAX_REMEMBERED_FAILURES
                ):  # oldest first (insertion order)
                    del self._failures[next(iter(self._failures))]
            self._failures[url] = (now + ttl, exc)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._failures.clear()

    def __len__(self) -> int:
        return len(self._keys)


DEFAULT_CERT_CACHE = CertCache()


def verify_envelope(
    envelope: Mapping[str, Any],
    allowed_topics: Iterable[str],
    fetch_cert: Callable[[str], bytes] = fetch_cert_https,
    cache: CertCache | None = None,
) -> None:
    """Raise SignatureError unless the envelope is signed by SNS for an allowed topic.

    The cheap checks (topic, version, URL) run before any certificate is fetched.
    """
    if not isinstance(envelope, Mapping):
        raise SignatureError("the SNS envelope is not a JSON object")
    topic = envelope.get("TopicArn")
    allowed = set(allowed_topics)
    if not isinstance(topic, str) or topic not in allowed:
        raise SignatureError(f"TopicArn {topic!r} is not in the allow-list (MAILER_SNS_TOPIC_ARNS)")
    algorithm = _hash_for(envelope.get("SignatureVersion"))
    url = check_cert_url(envelope.get("SigningCertURL"), topic)
    payload = string_to_sign(envelope)
    signature = _decode_signature(envelope.get("Signature"))
    key = (cache if cache is not None else DEFAULT_CERT_CACHE).get(url, fetch_cert)
    _verify(key, signature, payload, algorithm)


def _decode_signature(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise SignatureError("the SNS envelope has no Signature")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the SNS Signature is not base64") from None


def _verify(key, signature: bytes, payload: bytes, algorithm) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(signature, payload, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SignatureError("the SNS signature does not match the message") from None


def load_envelope(body: str | bytes) -> dict[str, Any]:
    """The JSON object of a webhook body (SNS posts it as text/plain)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("the request body is not a JSON SNS envelope") from None
    if not isinstance(data, dict):
        raise SignatureError("the request body is not a JSON SNS envelope")
    return data


def confirm_subscription(envelope: Mapping[str, Any], sns_client) -> str:
    """Confirm through the SNS API (never by fetching SubscribeURL). Returns the subscription ARN.

    The client must be for the topic's region; `topic_region(envelope["TopicArn"])` tells which.
    Call only after verify_envelope succeeded.
    """
    if envelope.get("Type") != SUBSCRIPTION_CONFIRMATION:
        raise SignatureError(f"not a SubscriptionConfirmation: {envelope.get('Type')!r}")
    # AuthenticateOnUnsubscribe: only the topic owner (signed AWS call) may unsubscribe the
    # endpoint afterwards, not whoever sees the UnsubscribeURL of a notification.
    response = sns_client.confirm_subscription(
        TopicArn=envelope["TopicArn"], Token=envelope["Token"], AuthenticateOnUnsubscribe="true"
    )
    return response.get("SubscriptionArn", "")


@dataclass(frozen=True)
class InboundMessage:
    """What an SQS body (or webhook) carried. `envelope` is None for SNS raw message delivery,
    which has no TopicArn: there the queue's access policy is the only gate."""

    message: str
    sns_type: str | None
    sns_message_id: str | None
    topic_arn: str | None
    envelope: dict[str, Any] | None

    @property
    def raw_delivery(self) -> bool:
        return self.envelope is None


def parse_sqs_body(body: str) -> InboundMessage:
    """Accept an SNS envelope (JSON with Type/TopicArn/Message) or raw delivery (the message
    itself)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("Type") in _SIGNED_FIELDS and "TopicArn" in data:
        message = data.get("Message")
        if not isinstance(message, str):
            raise SignatureError("the SNS envelope has no Message string")
        return InboundMessage(
            message=message,
            sns_type=data["Type"],
            sns_message_id=data.get("MessageId"),
            topic_arn=data.get("TopicArn"),
            envelope=data,
        )
    return InboundMessage(
        message=body, sns_type=None, sns_message_id=None, topic_arn=None, envelope=None
    )
