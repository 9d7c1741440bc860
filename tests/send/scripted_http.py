"""A scripted HTTP/1.1 server on 127.0.0.1 for the lean SES path's tests: reads each request in full
and answers with whatever the test scripted for it, byte for byte (well-formed or not), so that
framing, keep-alive and failures can be reproduced exactly as a hostile or broken endpoint would
produce them."""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable

Action = Callable[[socket.socket], bool]  # does something to the connection; True: keep serving it


class ScriptedServer:
    """Accepts connections; for the n-th request overall (n from 1) it calls `script(n)`, which
    returns
    the bytes to send, None to close without answering, or an Action.
    After a 'Connection: close' or HTTP/1.0 answer the server closes the connection."""

    def __init__(
        self, script: Callable[[int], bytes | Action | None], tls: ssl.SSLContext | None = None
    ):
        self.script, self.tls = script, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https://localhost' if tls else 'http://127.0.0.1'}:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = threading.Event()  # set each time the server has closed a connection
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_side=True)
            reader = sock.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                with self._lock:
                    self.requests.append(head + reader.read(length))
                    n = len(self.requests)
                answer = self.script(n)
                if answer is None:
                    return
                if callable(answer):
                    if not answer(sock):
                        return
                    continue
                sock.sendall(answer)
                if b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0"):
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()
            self.closed.set()

    def close(self) -> None:
        self.listener.close()


def ok(message_id: str = "m", extra_headers: bytes = b"") -> bytes:
    """SES's answer to a SendEmail it accepted."""
    body = json.dumps({"MessageId": message_id}).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra_headers
        + b"\r\n"
        + body
    )


def reset(sock: socket.socket) -> bool:
    """Abort the connection: SO_LINGER 0 makes close() send a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def silent(seconds: float) -> Action:
    """Say nothing for `seconds`, then close."""

    def act(sock: socket.socket) -> bool:
        threading.Event().wait(seconds)
        return False

    return act


def endless(head: bytes, piece: bytes, limit: int = 64 << 20) -> Action:
    """Send `head`, then `piece` over and over until the client goes away (or `limit` bytes)."""

    def act(sock: socket.socket) -> bool:
        sock.sendall(head)
        sent = 0
        while sent < limit:
            sock.sendall(piece)
            sent += len(piece)
        return False

    return act


def then_close(data: bytes) -> Action:
    """Send `data` (whatever it announces), then close the connection."""

    def act(sock: socket.socket) -> bool:
        sock.sendall(data)
        return False

    return act


def corrupt_tls_record(sock: socket.socket) -> bool:
    """Under an established TLS session, write a TLS application-data record that fails its
    integrity
    check (random bytes where the ciphertext belongs) straight onto the TCP connection."""
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
    finally:
        raw.close()
    return False
