"""`mailer doctor` and `mailer status --health` as an operator runs them (click's runner, the
settings from the environment): the output, --json's shape, the exit codes, the options, the
round trip's refusal in the SES sandbox."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from tests.doctor.conftest import DOMAIN, MAIL_FROM
from tests.doctor.simulator import MailboxSimulator
from tests.web.conftest import dump_tables

SENDS = "POST /v2/email/outbound-emails"


def mailer(installation, *args: str, **env: str):
    """The command's stdout is its answer; stderr has its log lines (moto's and the web app's
    too: they run in this process)."""
    environ = installation.env() | env
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def test_json_is_the_checks_and_exit_0_when_nothing_fails(installation):
    result = mailer(installation, "doctor", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["checks"]
    assert all(list(check) == ["name", "status", "detail", "fix"] for check in data["checks"])
    assert {check["status"] for check in data["checks"]} == {"ok"}
    names = [check["name"] for check in data["checks"]]
    assert names[:5] == [
        "settings.secret_key",
        "settings.base_url",
        "settings.lists",
        "settings.database",
        "settings.transport",
    ]
    assert f"domain.dkim:{DOMAIN}" in names and "events.queue_policy" in names
    assert names[-2:] == ["web.healthz", "web.one_click"]


def test_text_names_each_check_and_its_fix_and_exit_1_on_a_failure(installation):
    installation.dns.zone.set(MAIL_FROM, "TXT")  # the SPF record gone
    result = mailer(installation, "doctor")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    spf = next(i for i, line in enumerate(lines) if f"domain.spf:{DOMAIN}" in line)
    assert lines[spf].startswith("FAIL  ")
    assert lines[spf + 1].strip() == (
        f'fix: add DNS record: {MAIL_FROM} TXT "v=spf1 include:amazonses.com ~all"'
    )
    assert lines[0].startswith("ok    settings.secret_key")
    assert lines[-1] == "22 checks: 21 ok, 0 warn, 1 fail"


def test_a_warning_alone_exits_0(installation):
    installation.dns.zone.set(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=none")
    result = mailer(installation, "doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "22 checks: 21 ok, 1 warn, 0 fail"


def test_status_health_is_the_same_checks_as_json(installation):
    doctor = json.loads(mailer(installation, "doctor", "--json").stdout)
    health = mailer(installation, "status", "--health")
    assert health.exit_code == 0, health.output
    assert [c["name"] for c in json.loads(health.stdout)["checks"]] == [
        c["name"] for c in doctor["checks"]
    ]
    installation.overlay.account["SendingEnabled"] = False
    broken = mailer(installation, "status", "--health")
    assert broken.exit_code == 1
    failed = [c["name"] for c in json.loads(broken.stdout)["checks"] if c["status"] == "fail"]
    assert failed == ["ses.sending_enabled"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status"], "Missing option '--issue' (or use --health)."),
        (["status", "--health", "--issue", "today"], "--health checks the setup, not an issue"),
        (["doctor", "--yes"], "--yes goes with --round-trip"),
        (
            ["doctor", "--dns-server", "dns.google"],
            "Invalid value for --dns-server: must be the IP address of a DNS resolver",
        ),
        (["doctor", "--dns-server", "127.0.0.1:0"], "has a port that is not a number from 1 to"),
        (["doctor", "--dns-timeout", "0"], "Invalid value for '--dns-timeout'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(installation, args, message):
    result = mailer(installation, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_bad_dns_setting_is_one_line_naming_it(installation):
    result = mailer(installation, "doctor", MAILER_DNS_SERVER="resolver.example")
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "Error: environment variable MAILER_DNS_SERVER: invalid value 'resolver.example': "
        "must be the IP address of a DNS resolver"
    )


def test_dns_server_option_beats_the_environment(installation):
    silent = "127.0.0.1:9"  # nothing answers DNS there
    broken = mailer(installation, "doctor", "--json", MAILER_DNS_SERVER=silent)
    statuses = {c["name"]: c["status"] for c in json.loads(broken.stdout)["checks"]}
    assert statuses[f"domain.dmarc:{DOMAIN}"] == "warn"  # cannot tell: no resolver answers
    fixed = mailer(
        installation,
        "doctor",
        "--json",
        "--dns-server",
        f"127.0.0.1:{installation.dns.port}",
        "--dns-timeout",
        "2",
        MAILER_DNS_SERVER=silent,
    )
    assert fixed.exit_code == 0
    assert {c["status"] for c in json.loads(fixed.stdout)["checks"]} == {"ok"}


def test_the_round_trip_refuses_in_the_sandbox_without_yes(installation):
    installation.overlay.account["ProductionAccessEnabled"] = False
    before = dump_tables(installation.engine)
    result = mailer(installation, "doctor", "--round-trip")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: would run the round trip although the SES account in us-east-1 is in the sandbox "
        "(it proves the wiring, not that readers can be mailed); pass --yes to run it"
    )
    assert SENDS not in installation.overlay.requests
    assert dump_tables(installation.engine) == before


def test_the_round_trip_runs_in_the_sandbox_with_yes(installation):
    installation.overlay.account["ProductionAccessEnabled"] = False
    with MailboxSimulator(installation.factory, installation.sns, installation.topic):
        result = mailer(installation, "doctor", "--round-trip", "--yes", "--wait", "60", "--json")
    checks = {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 1  # the sandbox itself is a failure
    assert [n for n, s in checks.items() if s == "fail"] == ["ses.production_access"]
    assert [s for n, s in checks.items() if n.startswith("round_trip.")] == ["ok"] * 6
    assert installation.overlay.requests.count(SENDS) == 3
