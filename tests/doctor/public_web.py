"""The web app at a public-looking https address, on this machine: the app (werkzeug, threaded)
behind TLS with a certificate for `news.example.test` made here, and an HTTP CONNECT proxy that
takes `news.example.test:443` to it. With HTTPS_PROXY pointing at the proxy and REQUESTS_CA_BUNDLE
at the certificate, requests (the doctor's web checks) reaches https://news.example.test as it
reaches a real site: CONNECT, TLS with the name checked, HTTP. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import select
import socket
import socketserver
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

HOST = "news.example.test"


def make_certificate(folder: Path, host: str = HOST) -> tuple[Path, Path]:
    """(certificate, key) files: a self-signed certificate for `host`, its own trust anchor."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{host}.pem", folder / f"{host}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class TlsApp:
    """A WSGI app served over TLS on 127.0.0.1 (a random port) until stop()."""

    def __init__(self, app, cert_file: Path, key_file: Path):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self.server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(5)


class _Tunnel(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # the request's headers
        upstream = self.server.routes.get(request[1]) if len(request) == 3 else None
        if request[:1] != ["CONNECT"] or upstream is None:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            remote = socket.create_connection(upstream, timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        with remote:
            _pump(self.connection, remote)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    sockets = [a, b]
    while True:
        readable, _, broken = select.select(sockets, [], sockets, 30)
        if broken or not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class ConnectProxy(socketserver.ThreadingTCPServer):
    """HTTP CONNECT to the names in `routes` ("host:443" -> (ip, port)); 502 for anything else."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.routes: dict[str, tuple[str, int]] = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def route(self, host: str, port: int) -> None:
        self.routes[f"{host}:443"] = ("127.0.0.1", port)

    def unroute(self, host: str) -> None:
        self.routes.pop(f"{host}:443", None)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
