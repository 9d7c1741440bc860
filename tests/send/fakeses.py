"""A local SES-compatible HTTP endpoint (sesv2 SendEmail + GetAccount) that injects the faults moto
cannot: 429s, quota and paused errors, rejections, slow answers, connections dropped after the
request was read. Used by the tests (`python -m tests.send.fakeses LATENCY` runs one standalone; the
benchmark uses the lighter bench/ses_endpoint.py)."""

from __future__ import annotations

import base64
import email
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.policy import default as default_policy
from socketserver import StreamRequestHandler, ThreadingTCPServer


@dataclass(frozen=True)
class Fault:
    kind: str  # error | delay | drop
    status: int = 400
    code: str = ""
    message: str = ""
    seconds: float = 0.0


def error(status: int, code: str, message: str) -> Fault:
    return Fault("error", status=status, code=code, message=message)


THROTTLE = error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
DAILY_QUOTA = error(400, "LimitExceededException", "Daily message quota exceeded.")
PAUSED = error(400, "SendingPausedException", "Sending is paused for this account.")
REJECTED = error(400, "MessageRejected", "Email address is not verified.")
DROP = Fault("drop")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


@dataclass
class Received:
    address: str
    message_id: str | None  # set when the endpoint answered 200
    tags: dict[str, str]
    raw: bytes
    outcome: str  # ok | error code | drop


class _Server(ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256  # a sender's pool opens up to ~256 connections at once


@dataclass
class FakeSes:
    latency: float = 0.0
    keep_raw: bool = True
    # (address, how many times it was seen before) -> a Fault, or None to accept
    faults: Callable[[str, int], Fault | None] = lambda address, seen: None
    account: dict = field(
        default_factory=lambda: {
            "SendQuota": {"Max24HourSend": 1e9, "MaxSendRate": 1e6, "SentLast24Hours": 0.0},
            "SendingEnabled": True,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": True,
        }
    )
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.last_request: tuple[str, str, dict, bytes] | None = None  # method, path, headers, body
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeSes:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def acknowledged(self) -> Counter[str]:
        with self._lock:
            return Counter(r.address for r in self.received if r.message_id)

    def requests(self, address: str) -> int:
        """How many requests for `address` arrived (answered or not)."""
        with self._lock:
            return self._seen[address]

    def message_ids(self) -> dict[str, str]:
        with self._lock:
            return {r.message_id: r.address for r in self.received if r.message_id}

    def _fault_for(self, address: str) -> Fault | None:
        with self._lock:
            seen = self._seen[address]
            self._seen[address] += 1
        return self.faults(address, seen)

    def _record(self, entry: Received) -> None:
        with self._lock:
            self.received.append(entry)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def _address(body: bytes) -> str:
    """The first ToAddresses entry without decoding the ~100 KB document around it (benchmark
    mode)."""
    start = body.index(b'"ToAddresses"')
    start = body.index(b"[", start)
    return json.loads(body[start : body.index(b"]", start) + 1])[0]


def _handler(fake: FakeSes):
    class Handler(StreamRequestHandler):
        """Just enough HTTP/1.1 for boto3 and the lean SES path: keep-alive, Content-Length bodies.
        Hand-rolled rather than http.server's handler, which parses headers with the email package
        and costs the benchmark's shared CPUs more than the SES client under test."""

        disable_nagle_algorithm = True  # answers are one write, but keep "0 ms" honest regardless

        def handle(self):
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return
                if not line.strip():
                    continue
                method, path = line.decode("latin-1").split(" ", 2)[:2]
                headers = {}
                while (header := self.rfile.readline(65537)).strip():
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = self.rfile.read(
                    int(headers.get("content-length", 0))
                )  # always the whole body
                if (
                    not self._dispatch(method, path, headers, body)
                    or headers.get("connection") == "close"
                ):
                    return

        def _reply(self, status: int, body: dict, headers: dict | None = None) -> bool:
            data = json.dumps(body).encode()
            head = [
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                "Content-Type: application/json",
                f"Content-Length: {len(data)}",
                f"x-amzn-RequestId: {uuid.uuid4()}",
            ]
            head += [f"{key}: {value}" for key, value in (headers or {}).items()]
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
            return True

        def _not_found(self) -> bool:
            return self._reply(
                404, {"message": "not found"}, {"x-amzn-ErrorType": "NotFoundException"}
            )

        def _dispatch(self, method: str, path: str, headers: dict, body: bytes) -> bool:
            """Answer one request; False when the connection must be closed."""
            if method == "GET":
                return (
                    self._reply(200, fake.account)
                    if path.startswith("/v2/email/account")
                    else self._not_found()
                )
            if method != "POST" or not path.startswith("/v2/email/outbound-emails"):
                return self._not_found()
            if fake.keep_raw:
                document = json.loads(body)
                address = document["Destination"]["ToAddresses"][0]
                raw = base64.b64decode(document["Content"]["Raw"]["Data"])
                tags = {t["Name"]: t["Value"] for t in document.get("EmailTags", [])}
                fake.last_request = (method, path, headers, body)
            else:
                address, raw, tags = _address(body), b"", {}
            fault = fake._fault_for(address)
            if fake.latency:
                time.sleep(fake.latency)
            if fault and fault.kind == "drop":  # the request was read; the answer never comes
                fake._record(Received(address, None, tags, raw, "drop"))
                return False
            if fault and fault.kind == "error":
                fake._record(Received(address, None, tags, b"", fault.code))
                return self._reply(
                    fault.status, {"message": fault.message}, {"x-amzn-ErrorType": fault.code}
                )
            if fault and fault.kind == "delay":
                time.sleep(fault.seconds)
            message_id = f"{uuid.uuid4().hex}-fake"
            fake._record(Received(address, message_id, tags, raw, "ok"))
            return self._reply(200, {"MessageId": message_id})

    return Handler


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=default_policy)


if (
    __name__ == "__main__"
):  # a standalone endpoint for the benchmark: prints its URL, runs until killed
    import sys

    fake = FakeSes(latency=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0, keep_raw=False)
    print(fake.url, flush=True)
    fake.server.serve_forever()
