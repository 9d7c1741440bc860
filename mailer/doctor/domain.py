"""The From domain of each list, as receivers judge it: the SES identity verified, Easy DKIM on
and its CNAME records in DNS, the custom MAIL FROM domain with its SPF and MX records, and a DMARC
record with a policy that DKIM or SPF aligns with.

SES answers come from the v1 API (GetIdentityVerificationAttributes, GetIdentityDkimAttributes,
GetIdentityMailFromDomainAttributes: the same identities as sesv2, a DKIM token list included);
DNS from mailer.doctor.resolver. Alignment follows from how SES signs and sends: DKIM d= is the
verified domain identity (the From domain or a parent of it) and the MAIL FROM domain a
subdomain of it, so relaxed alignment holds for both, strict only for DKIM with the From domain
itself verified (RFC 7489 3.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailer.doctor.check import Check, fail, not_checked, ok, warn
from mailer.doctor.probe import AwsError, AwsProblem, Probe, aws_problem, uses_ses
from mailer.doctor.resolver import Records

VERIFIED = "Success"
DKIM_TARGET = "{token}.dkim.amazonses.com"
# Regions that publish DKIM keys under their own name (dkim.<region>.amazonses.com) pass too.
_DKIM_TARGET_RE = r"{token}\.dkim(\.[a-z0-9-]+)?\.amazonses\.com"
SPF_VALUE = "v=spf1 include:amazonses.com ~all"
MAIL_FROM_LABEL = "bounce"  # the subdomain the fix suggests for a custom MAIL FROM
GOOD_ALL = ("~all", "-all")


@dataclass(frozen=True)
class Identity:
    name: str  # a domain or an address; the From domain when no identity was found
    status: str  # Success | Pending | Failed | TemporaryFailure | NotStarted | "" (none)

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED

    @property
    def is_domain(self) -> bool:
        return "@" not in self.name


def record(name: str, rtype: str, value: str) -> str:
    """A DNS record as the fix names it."""
    quoted = f'"{value}"' if rtype == "TXT" else value
    return f"{name} {rtype} {quoted}"


def add_records(*records: str) -> str:
    return "add DNS record" + ("s" if len(records) > 1 else "") + ": " + "; ".join(records)


def parents(domain: str) -> list[str]:
    """The domain and each parent above it that is not a top-level domain."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def checks(probe: Probe) -> list[Check]:
    out: list[Check] = []
    for domain, lists in probe.domains.items():
        addresses = sorted({d.from_address.lower() for d in lists})
        out += FromDomain(probe, domain, addresses).checks()
    return out


@dataclass
class FromDomain:
    probe: Probe
    domain: str
    addresses: list[str]
    _dkim: dict[str, dict | AwsProblem] = field(default_factory=dict)

    def name(self, what: str) -> str:
        return f"domain.{what}:{self.domain}"

    def checks(self) -> list[Check]:
        if not uses_ses(self.probe.settings):
            return [self.dmarc(None, None)]
        if self.probe.aws_down:
            because = f"AWS cannot be reached (see {self.probe.account_check})"
            names = ("identity", "dkim", "mail_from", "spf")
            return [*(not_checked(self.name(n), because) for n in names), self.dmarc(None, None)]
        found = self.identity()
        if isinstance(found, AwsProblem):
            because = f"SES identities could not be read (see {self.name('identity')})"
            return [
                fail(self.name("identity"), found.detail, found.fix),
                *(not_checked(self.name(n), because) for n in ("dkim", "mail_from", "spf")),
                self.dmarc(None, None),
            ]
        identity_check = self.identity_check(found)
        if not (found.verified and found.is_domain):
            because = f"no verified domain identity for {self.domain} (see {self.name('identity')})"
            return [
                identity_check,
                *(not_checked(self.name(n), because) for n in ("dkim", "mail_from", "spf")),
                self.dmarc(found, None),
            ]
        mail_from = self.mail_from_domain(found)
        return [
            identity_check,
            self.dkim(found),
            self.mail_from_check(found, mail_from),
            self.spf(mail_from),
            self.dmarc(found, mail_from),
        ]

    # --- SES ---------------------------------------------------------------------------------

    def identity(self) -> Identity | AwsProblem:
        """The identity SES sends this domain's mail under: the domain or a parent, else an
        address; verified ones first."""
        candidates = [*parents(self.domain), *self.addresses]
        try:
            answer = self.probe.ses("ses").get_identity_verification_attributes(
                Identities=candidates
            )["VerificationAttributes"]
        except AwsError as exc:
            return aws_problem(exc, "ses:GetIdentityVerificationAttributes")
        statuses = {name: answer.get(name, {}).get("VerificationStatus", "") for name in candidates}
        for name in candidates:
            if statuses[name] == VERIFIED:
                return Identity(name, VERIFIED)
        for name in candidates:
            if statuses[name]:
                return Identity(name, statuses[name])
        return Identity(self.domain, "")

    def dkim_attributes(self, identity: str) -> dict | AwsProblem:
        """GetIdentityDkimAttributes of one identity, read once (the DKIM and DMARC checks)."""
        if identity not in self._dkim:
            try:
                answer = self.probe.ses("ses").get_identity_dkim_attributes(Identities=[identity])
                self._dkim[identity] = answer["DkimAttributes"].get(identity, {})
            except AwsError as exc:
                self._dkim[identity] = aws_problem(exc, "ses:GetIdentityDkimAttributes")
        return self._dkim[identity]

    def dkim_records(self, identity: str, tokens: list[str]) -> list[str]:
        return [
            record(f"{t}._domainkey.{identity}", "CNAME", DKIM_TARGET.format(token=t))
            for t in tokens
        ]

    def identity_check(self, found: Identity) -> Check:
        name, region = self.name("identity"), self.probe.region
        if found.verified and found.is_domain:
            parent = "" if found.name == self.domain else f" (the parent of {self.domain})"
            return ok(name, f"{found.name}{parent} is verified in SES {region}")
        if found.verified:
            return warn(
                name,
                f"only the address {found.name} is verified in SES {region}, not the domain "
                f"{self.domain}: SES signs its mail with amazonses.com's DKIM key, which "
                "does not align with the From domain",
                f"aws sesv2 create-email-identity --email-identity {self.domain} --region "
                f"{region}, then add the three DKIM CNAME records it prints",
            )
        create = (
            f"aws sesv2 create-email-identity --email-identity {self.domain} --region {region}, "
            "then add the three DKIM CNAME records it prints"
        )
        if not found.status:
            return fail(name, f"SES has no identity for {self.domain} in {region}", create)
        attributes = self.dkim_attributes(found.name) if found.is_domain else None
        tokens = attributes.get("DkimTokens", []) if isinstance(attributes, dict) else []
        fix = add_records(*self.dkim_records(found.name, tokens)) if tokens else create
        if found.status != "Pending":
            fix += f" (then SES console ({region}) > Identities > {found.name} > retry)"
        return fail(
            name,
            f"{found.name} is not verified in SES {region} ({found.status}): SES verifies a "
            "domain when its DKIM records resolve",
            fix,
        )

    def dkim(self, identity: Identity) -> Check:
        name, region = self.name("dkim"), self.probe.region
        attributes = self.dkim_attributes(identity.name)
        if isinstance(attributes, AwsProblem):
            return fail(name, attributes.detail, attributes.fix)
        if not attributes.get("DkimEnabled"):
            return fail(
                name,
                f"DKIM signing is off for {identity.name}: receivers see no signature of "
                f"{self.domain}, and Gmail and Yahoo reject bulk mail without one",
                f"aws sesv2 put-email-identity-dkim-attributes --email-identity {identity.name} "
                f"--signing-enabled --region {region}",
            )
        tokens = attributes.get("DkimTokens") or []
        if not tokens:
            return warn(
                name,
                f"DKIM is on for {identity.name} with keys of your own (no Easy DKIM tokens): "
                "their DNS records are not checked",
            )
        missing, unsure = [], []
        for token in tokens:
            looked = self.probe.resolver.cname(f"{token}._domainkey.{identity.name}")
            target = re.compile(_DKIM_TARGET_RE.format(token=re.escape(token)))
            if looked.error:
                unsure.append(looked.error)
            elif not any(target.fullmatch(value) for value in looked.values):
                missing.append(token)
        if missing:
            found = f"{len(tokens) - len(missing)} of {len(tokens)}"
            return fail(
                name,
                f"DKIM is on for {identity.name}, but only {found} of its CNAME records are in "
                "DNS: SES signs, receivers cannot check the signature",
                add_records(*self.dkim_records(identity.name, missing)),
            )
        if unsure:
            return self.cannot_tell(name, unsure[0])
        status = attributes.get("DkimVerificationStatus", "")
        if status != VERIFIED:
            return warn(
                name,
                f"the {len(tokens)} DKIM records of {identity.name} are in DNS; SES has not seen "
                f"them yet ({status}): it looks again within 72 hours",
            )
        return ok(name, f"DKIM on, {len(tokens)} CNAME records in DNS (d={identity.name})")

    def mail_from_domain(self, identity: Identity) -> dict | AwsProblem:
        try:
            answer = self.probe.ses("ses").get_identity_mail_from_domain_attributes(
                Identities=[identity.name]
            )
        except AwsError as exc:
            return aws_problem(exc, "ses:GetIdentityMailFromDomainAttributes")
        return answer["MailFromDomainAttributes"].get(identity.name, {})

    def mail_from_check(self, identity: Identity, attributes: dict | AwsProblem) -> Check:
        name, region = self.name("mail_from"), self.probe.region
        if isinstance(attributes, AwsProblem):
            return fail(name, attributes.detail, attributes.fix)
        mail_from = attributes.get("MailFromDomain")
        if not mail_from:
            suggested = f"{MAIL_FROM_LABEL}.{identity.name}"
            return warn(
                name,
                f"no custom MAIL FROM domain for {identity.name}: the envelope sender is "
                f"amazonses.com, so SPF does not align with {self.domain} (DKIM alone carries "
                "DMARC)",
                f"aws sesv2 put-email-identity-mail-from-attributes --email-identity "
                f"{identity.name} --mail-from-domain {suggested} --behavior-on-mx-failure "
                f"USE_DEFAULT_VALUE --region {region}, then add "
                + "; ".join(self.mail_from_records(suggested)),
            )
        status = attributes.get("MailFromDomainStatus") or "Pending"
        if status != VERIFIED:
            return fail(
                name,
                f"MAIL FROM domain {mail_from} is {status} in SES: SES cannot find its MX record, "
                "so it uses amazonses.com (or rejects the message)",
                add_records(*self.mail_from_records(mail_from)),
            )
        return ok(name, f"MAIL FROM {mail_from} ({status})")

    def mail_from_records(self, mail_from: str) -> list[str]:
        return [
            record(mail_from, "MX", f"10 feedback-smtp.{self.probe.region}.amazonses.com"),
            record(mail_from, "TXT", SPF_VALUE),
        ]

    # --- DNS ---------------------------------------------------------------------------------

    def spf(self, attributes: dict | AwsProblem) -> Check:
        name = self.name("spf")
        mail_from = attributes.get("MailFromDomain") if isinstance(attributes, dict) else None
        if not mail_from:
            return not_checked(name, f"no custom MAIL FROM domain (see {self.name('mail_from')})")
        txt = self.probe.resolver.txt(mail_from)
        mx = self.probe.resolver.mx(mail_from)
        if txt.error or mx.error:
            return self.cannot_tell(name, txt.error or mx.error)
        problems, records = self.spf_problems(mail_from, txt), []
        if problems:
            records.append(record(mail_from, "TXT", SPF_VALUE))
        feedback = f"feedback-smtp.{self.probe.region}.amazonses.com"
        if feedback not in mx.values:
            found = ", ".join(mx.values) or "none"
            problems.append(
                f"{mail_from} has no MX {feedback} (found: {found}): SES needs it to use the "
                "MAIL FROM domain"
            )
            records.append(record(mail_from, "MX", f"10 {feedback}"))
        if problems:
            fix = add_records(*records)
            if len([v for v in txt.values if _is_spf(v)]) > 1:
                fix += f" (and remove the other SPF records of {mail_from})"
            return fail(name, "; ".join(problems), fix)
        spf = next(v for v in txt.values if _is_spf(v))
        return ok(name, f'{mail_from}: "{spf}", MX {feedback}')

    def spf_problems(self, mail_from: str, txt: Records) -> list[str]:
        spf = [value for value in txt.values if _is_spf(value)]
        if not spf:
            return [f"no SPF record at {mail_from}"]
        if len(spf) > 1:
            return [f"{len(spf)} SPF records at {mail_from}: receivers treat that as an error"]
        terms = spf[0].lower().split()
        if "include:amazonses.com" not in terms:
            return [f'the SPF record of {mail_from} does not include amazonses.com: "{spf[0]}"']
        if not any(term in GOOD_ALL for term in terms):
            return [f'the SPF record of {mail_from} does not end in ~all or -all: "{spf[0]}"']
        return []

    def dmarc(self, identity: Identity | None, mail_from: dict | AwsProblem | None) -> Check:
        name = self.name("dmarc")
        found = self.dmarc_record()
        if isinstance(found, str):
            return self.cannot_tell(name, found)
        suggested = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{self.domain}"
        if found is None:
            return fail(
                name,
                f"no DMARC record at _dmarc.{self.domain}: Gmail and Yahoo reject bulk mail "
                "without one",
                add_records(record(f"_dmarc.{self.domain}", "TXT", suggested))
                + " (then move to p=quarantine once the reports show only your own senders)",
            )
        where, tags, text = found
        policy = tags.get("sp", tags.get("p")) if where != self.domain else tags.get("p")
        location = f"_dmarc.{where}"
        if policy not in ("none", "quarantine", "reject"):
            return fail(
                name,
                f'the DMARC record at {location} has no valid policy (p=): "{text}"',
                add_records(record(location, "TXT", suggested)),
            )
        adkim, aspf = tags.get("adkim", "r"), tags.get("aspf", "r")
        aligned = self.alignment(identity, mail_from, adkim, aspf)
        head = f"p={policy} at {location}, adkim={adkim} aspf={aspf}"
        if aligned is not None and not any(aligned.values()):
            relaxed = "; ".join(
                part
                for part in (p.strip() for p in text.split(";"))
                if part and not part.lower().startswith(("adkim", "aspf"))
            )
            return fail(
                name,
                f"{head}: neither DKIM nor SPF aligns with {self.domain}, so DMARC fails for "
                "every message",
                "fix DKIM (see "
                + self.name("dkim")
                + ") or use relaxed alignment: "
                + add_records(record(location, "TXT", relaxed)),
            )
        summary = head + (
            ""
            if aligned is None
            else ", aligned: " + (", ".join(k for k, v in aligned.items() if v))
        )
        if policy == "none":
            strict = "; ".join(
                "p=quarantine" if p.strip().lower().startswith("p=") else p.strip()
                for p in text.split(";")
                if p.strip()
            )
            return warn(
                name,
                f"{summary}: p=none asks receivers to deliver mail that fails DMARC, so a forged "
                f"{self.domain} sender is not stopped",
                "once the DMARC reports show only your own senders: "
                + add_records(record(location, "TXT", strict)),
            )
        return ok(name, summary)

    def dmarc_record(self) -> tuple[str, dict[str, str], str] | str | None:
        """(domain it was found at, its tags, its text); the From domain's record, else the
        nearest parent's (RFC 7489 6.6.3, the organizational domain); a str: the resolver failed."""
        for domain in parents(self.domain):
            looked = self.probe.resolver.txt(f"_dmarc.{domain}")
            if looked.error:
                return looked.error
            records = [(parse_dmarc(v), v) for v in looked.values]
            records = [(tags, v) for tags, v in records if tags is not None]
            if len(records) == 1:
                return domain, records[0][0], records[0][1]
            if records:  # several: no policy applies (RFC 7489 6.6.3)
                return domain, {}, " | ".join(v for _, v in records)
        return None

    def alignment(
        self, identity: Identity | None, mail_from: dict | AwsProblem | None, adkim: str, aspf: str
    ) -> dict[str, bool] | None:
        """{"DKIM": aligned?, "SPF": aligned?} as SES sends; None when SES's side is unknown (no
        verified identity: SES sends nothing at all then). DKIM signs as the domain identity when
        it is on, else as amazonses.com."""
        if identity is None or not identity.verified:
            return None
        dkim = identity.is_domain
        if dkim:
            attributes = self.dkim_attributes(identity.name)
            dkim = isinstance(attributes, dict) and bool(attributes.get("DkimEnabled"))
        if dkim and adkim == "s":
            dkim = identity.name == self.domain
        custom = isinstance(mail_from, dict) and bool(mail_from.get("MailFromDomain"))
        spf = custom and aspf != "s"  # the MAIL FROM domain is always a subdomain
        return {"DKIM": dkim, "SPF": spf}

    def cannot_tell(self, name: str, error: str | None) -> Check:
        return warn(
            name,
            f"cannot tell: {error}",
            "set MAILER_DNS_SERVER (or --dns-server) to a resolver that answers, and "
            "MAILER_DNS_TIMEOUT (--dns-timeout) if it is slow",
        )


def _is_spf(value: str) -> bool:
    return value.lower() == "v=spf1" or value.lower().startswith("v=spf1 ")


def parse_dmarc(text: str) -> dict[str, str] | None:
    """The tags of a DMARC record (lower-case names), or None when it is not one."""
    parts = [part.strip() for part in text.split(";")]
    if not parts or parts[0].replace(" ", "").lower() != "v=dmarc1":
        return None
    tags = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip():
            tags[key.strip().lower()] = value.strip().lower()
    return tags
