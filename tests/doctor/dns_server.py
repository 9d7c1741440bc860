"""A DNS server on 127.0.0.1 for the domain checks: dnslib's server, UDP and TCP on one random
port, answering from a dict the test edits (records can be added, changed and removed while it
runs). A name with no record of any type is NXDOMAIN; a known name without the asked type is an
empty answer (NOERROR), as a real zone answers."""

from __future__ import annotations

import socket
import threading
import time

from dnslib import CNAME, MX, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_TYPES = {"TXT": TXT, "CNAME": CNAME, "MX": MX}
SILENT_SECONDS = 3.0  # longer than the doctor's DNS timeout in the tests


def _txt(value: str) -> TXT:
    """One TXT record; a value over 255 bytes is split into strings, as zone files do."""
    data = value.encode()
    return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


class Zone(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.silent: set[str] = set()  # names answered only after SILENT_SECONDS (a timeout)
        self._lock = threading.Lock()

    def set(self, name: str, rtype: str, *values: str) -> None:
        with self._lock:
            key = (name.lower().rstrip("."), rtype)
            if values:
                self.records[key] = list(values)
            else:
                self.records.pop(key, None)

    def resolve(self, request, handler):
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        rtype = QTYPE[question.qtype]
        if name in self.silent:
            time.sleep(SILENT_SECONDS)  # the server is threaded: other questions go on
        reply = request.reply()
        with self._lock:
            values = list(self.records.get((name, rtype), ()))
            known = any(key[0] == name for key in self.records)
        for value in values:
            reply.add_answer(RR(question.qname, question.qtype, rdata=_rdata(rtype, value), ttl=60))
        if not values and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def _rdata(rtype: str, value: str):
    if rtype == "TXT":
        return _txt(value)
    if rtype == "MX":
        preference, host = value.split()
        return MX(host, int(preference))
    return _TYPES[rtype](value)


class _Quiet(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


def _free_port() -> int:
    """A port free for UDP and TCP alike on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class LocalDns:
    """`with LocalDns() as dns:` -> dns.zone (the records), dns.server ("127.0.0.1:PORT")."""

    def __init__(self) -> None:
        self.zone = Zone()
        self.port = _free_port()
        self.server = f"127.0.0.1:{self.port}"
        self._servers = [
            DNSServer(self.zone, address="127.0.0.1", port=self.port, tcp=tcp, logger=_Quiet())
            for tcp in (False, True)
        ]

    def __enter__(self) -> LocalDns:
        for server in self._servers:
            server.start_thread()
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
