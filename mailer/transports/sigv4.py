"""AWS Signature Version 4 for the one request the sender repeats a thousand times a second.

botocore's `SigV4Auth.add_auth` keeps its headers in an `email.message.Message` subclass and
re-derives the signing key on every call: ~140 µs of CPU per SendEmail on our development machine,
more than building the request. This signer does the same arithmetic for a POST without a query
string and a fixed set of headers (the canonical request, the string to sign, the HMAC chain
"AWS4"+secret → date → region → service → "aws4_request"), with the signing key cached per day and
key. What is signed: content-type, host, x-amz-date, the signer's `fixed` headers (the event
poller's SQS calls name their action in X-Amz-Target) and, with temporary credentials,
x-amz-security-token; the payload's SHA-256 is always part of it. The tests recompute every
signature with botocore from the request as the endpoint received it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

_PLAIN_PATH = re.compile(
    r"/[A-Za-z0-9/._~\-]*"
)  # canonical URI == path: nothing to escape or normalise


def plain_path(path: str) -> bool:
    """Whether this signer handles `path` (else the caller signs with botocore)."""
    return (
        bool(_PLAIN_PATH.fullmatch(path))
        and "//" not in path
        and "/./" not in path
        and "/../" not in path
    )


class SigV4Signer:
    def __init__(
        self,
        *,
        service: str,
        region: str,
        host: str,
        path: str,
        content_type: str,
        fixed: dict[str, str] | None = None,
        clock=time.time,
    ):
        if not plain_path(path):
            raise ValueError(f"path {path!r} needs URI normalisation: sign it with botocore")
        self.service, self.region, self.host, self.path = service, region, host, path
        self.content_type = " ".join(content_type.split())
        # Headers sent with every request of this signer, as sent (headers() returns them) and as
        # signed (lower-case name, spaces folded).
        self.fixed = dict(fixed or {})
        self._fixed_signed = {k.lower(): " ".join(v.split()) for k, v in self.fixed.items()}
        clash = {"content-type", "host", "x-amz-date", "x-amz-security-token", "authorization"}
        if clash & set(self._fixed_signed):
            raise ValueError(f"fixed headers may not set {sorted(clash & set(self._fixed_signed))}")
        self.clock = clock
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret key, day, signing key)

    def headers(self, credentials, body: bytes) -> dict[str, str]:
        """The headers that authorise this body: the fixed ones, X-Amz-Date,
        [X-Amz-Security-Token,] Authorization.
        `credentials`: frozen botocore credentials (access_key, secret_key, token)."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        day = amz_date[:8]
        signed = {"content-type": self.content_type, "host": self.host, "x-amz-date": amz_date}
        signed.update(self._fixed_signed)
        if credentials.token:
            signed["x-amz-security-token"] = " ".join(credentials.token.split())
        names = sorted(signed)
        signed_names = ";".join(names)
        canonical = "\n".join(
            (
                "POST",
                self.path,
                "",
                "".join(f"{n}:{signed[n]}\n" for n in names),
                signed_names,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256",
                amz_date,
                scope,
                hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
            )
        )
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day), to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        out = {**self.fixed, "X-Amz-Date": amz_date}
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        out["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return out

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        cached = self._key
        if cached[0] == secret_key and cached[1] == day:
            return cached[2]
        key = ("AWS4" + secret_key).encode("utf-8")
        for part in (day, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        self._key = (secret_key, day, key)
        return key


class LazyCredentials:
    """A botocore session's credentials, resolved on first use (as boto3 does: a client built
    without them only fails when it calls) and frozen per call, which refreshes expiring ones (STS,
    SSO, IMDS). `frozen()` is None when the session has none: the caller says what that means."""

    def __init__(self, session):
        self._session, self._credentials = session, None

    def frozen(self):
        if self._credentials is None:
            self._credentials = self._session.get_credentials()
            if self._credentials is None:
                return None
        return self._credentials.get_frozen_credentials()
