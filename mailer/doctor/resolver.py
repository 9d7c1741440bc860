"""DNS lookups for the doctor's domain checks, with dnspython: the system's resolver or the one in
MAILER_DNS_SERVER / --dns-server, each lookup bounded by MAILER_DNS_TIMEOUT / --dns-timeout.

A lookup answers `Records`: the values found (none for NXDOMAIN or no record of that type, which
is an answer), or the error that kept the resolver from answering (timeout, SERVFAIL), which is
not one: a check says "cannot tell" then, never "missing". dnspython asks over UDP and repeats
the question over TCP when the answer is truncated (a long TXT record).
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver

from mailer.doctor.check import one_line


@dataclass(frozen=True)
class Records:
    name: str
    values: tuple[str, ...] = ()
    error: str | None = None  # the resolver did not answer: the values say nothing

    @property
    def found(self) -> bool:
        return bool(self.values)


class Resolver:
    def __init__(self, server: tuple[str, int] | None = None, timeout: float = 5.0):
        self.server = server
        self.timeout = timeout
        try:
            self._resolver = dns.resolver.Resolver(configure=server is None)
            self._setup_error = None
        except dns.resolver.NoResolverConfiguration:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._setup_error = "this machine has no resolver configured (/etc/resolv.conf)"
        if server is not None:
            self._resolver.nameservers = [server[0]]
            self._resolver.port = server[1]
        self._resolver.timeout = timeout  # one try of one server
        self._resolver.lifetime = timeout  # the whole lookup, retries included

    def describe(self) -> str:
        if self.server is None:
            return "the system's resolver"
        host, port = self.server
        return f"the resolver {host}:{port}" if ":" not in host else f"the resolver [{host}]:{port}"

    def txt(self, name: str) -> Records:
        """Each TXT record's strings joined, as SPF and DMARC read them (RFC 7208 3.3)."""
        return self._lookup(
            name, "TXT", lambda rdata: b"".join(rdata.strings).decode("utf-8", "replace")
        )

    def cname(self, name: str) -> Records:
        return self._lookup(name, "CNAME", lambda rdata: _host(rdata.target))

    def mx(self, name: str) -> Records:
        return self._lookup(name, "MX", lambda rdata: _host(rdata.exchange))

    def _lookup(self, name: str, rdtype: str, read) -> Records:
        if self._setup_error:
            return Records(name, error=self._setup_error)
        try:
            answer = self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return Records(name)
        except dns.exception.Timeout:
            return Records(
                name, error=f"no answer within {self.timeout:g} s from {self.describe()}"
            )
        except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
            return Records(name, error=f"{self.describe()} failed: {one_line(exc)}")
        return Records(name, tuple(read(rdata) for rdata in answer))


def _host(name) -> str:
    return name.to_text(omit_final_dot=True).lower()
