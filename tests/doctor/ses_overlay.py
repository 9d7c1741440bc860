"""A local SES endpoint in front of moto, for the states moto cannot produce.

moto (5.2) has no sesv2 GetAccount, so it cannot say sandbox or production access, sending
enabled, or the quotas; and its v1 identities are always verified with DKIM on. This endpoint
answers GetAccount from `account` (the test sets it), rewrites parts of moto's v1 answers where a
test asks (`rewrite("GetIdentityDkimAttributes", "<DkimEnabled>true", "<DkimEnabled>false")`),
and forwards every other request to moto as it came (the transport's SendEmail included, on
keep-alive connections), so that everything else is moto's.
"""

from __future__ import annotations

import copy
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GOOD_ACCOUNT = {
    "DedicatedIpAutoWarmupEnabled": True,
    "EnforcementStatus": "HEALTHY",
    "ProductionAccessEnabled": True,
    "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0},
    "SendingEnabled": True,
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class SesOverlay:
    def __init__(self, moto_url: str):
        self.moto = urlsplit(moto_url)
        self.account = copy.deepcopy(GOOD_ACCOUNT)
        self.account_error: tuple[int, str] | None = None  # (status, error type) instead
        self.rewrites: dict[str, list[tuple[str, str]]] = {}
        self.requests: list[str] = []  # "GET /v2/email/account", "POST ses:SendEmail", ...
        overlay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore and the lean path use it

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                overlay.handle(self, "GET")

            def do_POST(self) -> None:
                overlay.handle(self, "POST")

            def do_PUT(self) -> None:
                overlay.handle(self, "PUT")

            def do_DELETE(self) -> None:
                overlay.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rewrite(self, action: str, old: str, new: str) -> None:
        """In moto's answers to the v1 `action`, replace `old` by `new`."""
        self.rewrites.setdefault(action, []).append((old, new))

    def start(self) -> SesOverlay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = urlsplit(handler.path).path
        if method == "GET" and path == "/v2/email/account":
            self.requests.append("GET /v2/email/account")
            if self.account_error:
                status, kind = self.account_error
                error = {"__type": kind, "message": f"{kind} (the test's answer)"}
                self._answer(
                    handler,
                    status,
                    "application/json",
                    json.dumps(error).encode(),
                    {"x-amzn-errortype": kind},
                )
                return
            self._answer(handler, 200, "application/json", json.dumps(self.account).encode())
            return
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        self.requests.append(f"{method} {action or path}")
        status, headers, answer = self._forward(method, handler, body)
        for old, new in self.rewrites.get(action, []):
            answer = answer.replace(old.encode(), new.encode())
        self._answer(handler, status, headers.get("content-type", "text/xml"), answer, headers)

    def _forward(self, method: str, handler: BaseHTTPRequestHandler, body: bytes):
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = self.moto.netloc
            connection.request(method, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, answer
        finally:
            connection.close()

    @staticmethod
    def _answer(handler, status: int, content_type: str, body: bytes, headers=None) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            if key not in _HOP_BY_HOP and key not in ("content-type", "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
