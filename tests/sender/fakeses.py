"""A local SES-compatible HTTP endpoint (sesv2 SendEmail + GetAccount) that injects the faults moto
cannot: 429s, quota and paused errors, rejections, slow answers, connections dropped after the
request was read. Used by the tests and by bench/send.py (`python -m tests.sender.fakeses`)."""

from __future__ import annotations

import base64
import email
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


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


@dataclass
class FakeSes:
    latency: float = 0.0
    keep_raw: bool = True
    # (address, how many times it was seen before) -> a Fault, or None to accept
    faults: Callable[[str, int], Fault | None] = lambda address, seen: None
    account: dict = field(default_factory=lambda: {
        "SendQuota": {"Max24HourSend": 1e9, "MaxSendRate": 1e6, "SentLast24Hours": 0.0},
        "SendingEnabled": True, "EnforcementStatus": "HEALTHY", "ProductionAccessEnabled": True})
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeSes":
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


def _handler(fake: FakeSes):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: with Nagle on, the body would wait for the client's delayed
        # ACK and add ~40 ms to every "0 ms" answer.
        disable_nagle_algorithm = True

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.startswith("/v2/email/account"):
                self._reply(200, fake.account)
            else:
                self._reply(404, {"message": "not found"}, {"x-amzn-ErrorType": "NotFoundException"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if not self.path.startswith("/v2/email/outbound-emails"):
                self._reply(404, {"message": "not found"}, {"x-amzn-ErrorType": "NotFoundException"})
                return
            address = body["Destination"]["ToAddresses"][0]
            raw = base64.b64decode(body["Content"]["Raw"]["Data"]) if fake.keep_raw else b""
            tags = {t["Name"]: t["Value"] for t in body.get("EmailTags", [])}
            fault = fake._fault_for(address)
            if fake.latency:
                time.sleep(fake.latency)
            if fault and fault.kind == "drop":  # the request was read; the answer never comes
                fake._record(Received(address, None, tags, raw, "drop"))
                self.close_connection = True
                return
            if fault and fault.kind == "error":
                fake._record(Received(address, None, tags, b"", fault.code))
                self._reply(fault.status, {"message": fault.message}, {"x-amzn-ErrorType": fault.code})
                return
            if fault and fault.kind == "delay":
                time.sleep(fault.seconds)
            message_id = f"{uuid.uuid4().hex}-fake"
            fake._record(Received(address, message_id, tags, raw, "ok"))
            self._reply(200, {"MessageId": message_id})

    return Handler


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=default_policy)


if __name__ == "__main__":  # a standalone endpoint for the benchmark: prints its URL, runs until killed
    import sys

    fake = FakeSes(latency=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0, keep_raw=False)
    print(fake.url, flush=True)
    fake.server.serve_forever()
