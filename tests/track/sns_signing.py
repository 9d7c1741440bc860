"""Test helpers: a self-generated signing certificate and SNS envelopes signed with it."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from mailer.track.sns import string_to_sign

REGION = "us-east-1"
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:ses-events"
FOREIGN_TOPIC_ARN = f"arn:aws:sns:{REGION}:999999999999:ses-events"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000a.pem"


class Signer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, envelope: dict, version: str | None = None) -> dict:
        env = dict(envelope)
        version = version or env.get("SignatureVersion", "2")
        env["SignatureVersion"] = version
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = self.key.sign(string_to_sign(env), padding.PKCS1v15(), algorithm)
        env["Signature"] = base64.b64encode(raw).decode()
        return env


def notification(
    message: str,
    *,
    subject: str | None = None,
    topic: str = TOPIC_ARN,
    cert_url: str = CERT_URL,
    message_id: str | None = None,
) -> dict:
    env = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2026-11-22T07:00:01.123Z",
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:x",
    }
    if subject is not None:
        env["Subject"] = subject
    return env


def subscription_confirmation(topic: str = TOPIC_ARN, cert_url: str = CERT_URL) -> dict:
    token = "2336412f37fb687f5d51e6e2425c464de12884d1" * 3
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={topic}&Token={token}",
        "Timestamp": "2026-11-22T06:59:00.000Z",
        "SignatureVersion": "1",
        "SigningCertURL": cert_url,
    }
