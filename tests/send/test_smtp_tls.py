"""No SMTP password in clear, through `mailer send` as an operator runs it: with MAILER_SMTP_USER
set,
STARTTLS is required (smtps:// is fine too); plain text only to a relay on this machine and only
with
an explicit starttls=0. The test's self-signed certificate is trusted through SSL_CERT_FILE, which
the standard library's default TLS context honours."""

from __future__ import annotations

import json
import ssl

import pytest
from aiosmtpd.controller import Controller

from tests.send.conftest import ISSUE
from tests.send.helpers import mailer_env, run
from tests.send.smtpserver import FaultySmtp, free_port, self_signed, start

CREDENTIALS = {"MAILER_SMTP_USER": "sender", "MAILER_SMTP_PASSWORD": "s3cret"}


@pytest.fixture
def cert(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
def servers():
    started = []
    yield started
    for controller in started:
        controller.stop()


def env_for(database_url: str, transport: str, **extra: str) -> dict[str, str]:
    return mailer_env(
        database_url, "http://127.0.0.1:9", MAILER_TRANSPORT=transport, **CREDENTIALS, **extra
    )


def send(env):
    return run(env, "send", "--issue", ISSUE, "--yes", "--rate", "200")


def counts(env) -> dict:
    result = run(env, "status", "--issue", ISSUE, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_user_means_starttls_even_when_the_url_does_not_say_so(
    database_url, engine, sample_list, cert, servers
):
    server = FaultySmtp()
    servers.append(start(server, tls_cert=cert, auth=True))
    env = env_for(
        database_url, f"smtp://127.0.0.1:{servers[0].port}?timeout=5", SSL_CERT_FILE=str(cert[0])
    )
    result = send(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts(env)["counts"] == {"sent": 21} and len(server.accepted) == 21
    assert server.logins and all(
        login == ("sender", True) for login in server.logins
    )  # only over TLS


def test_a_server_without_starttls_never_sees_the_password(
    database_url, engine, sample_list, servers
):
    server = FaultySmtp()  # offers AUTH in clear, as a misconfigured or hostile server would
    servers.append(start(server, auth=True, auth_require_tls=False))
    port = servers[0].port
    env = env_for(database_url, f"smtp://127.0.0.1:{port}?timeout=5")
    result = send(env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    paused = [line for line in result.stdout.splitlines() if "PAUSED" in line]
    assert len(paused) == 1 and f"MAILER_TRANSPORT=smtp://127.0.0.1:{port}" in paused[0], (
        result.stdout
    )
    assert "does not offer STARTTLS" in paused[0] and "smtps://" in paused[0]
    assert server.logins == [] and server.accepted == []
    info = counts(env)
    assert (
        info["state"] == "paused"
        and "STARTTLS" in info["pause_reason"]
        and info["counts"] == {"queued": 21}
    )


def test_explicit_starttls_0_is_allowed_to_a_relay_on_this_machine(
    database_url, engine, sample_list, servers
):
    server = FaultySmtp()
    servers.append(start(server, auth=True, auth_require_tls=False))
    env = env_for(database_url, f"smtp://127.0.0.1:{servers[0].port}?starttls=0&timeout=5")
    result = send(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.accepted) == 21 and server.logins and server.logins[0] == ("sender", False)


def test_starttls_0_with_a_user_to_another_host_is_one_error_naming_the_setting(
    database_url, engine, sample_list
):
    env = env_for(database_url, "smtp://mail.example:25?starttls=0")
    result = send(env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MAILER_TRANSPORT" in lines[0] and "in clear" in lines[0]
    assert "smtps://" in lines[0]


def test_an_untrusted_certificate_pauses_the_send_naming_the_setting(
    database_url, engine, sample_list, cert, servers
):
    server = FaultySmtp()
    servers.append(start(server, tls_cert=cert, auth=True))
    port = servers[0].port
    env = env_for(
        database_url, f"smtp://127.0.0.1:{port}?timeout=5"
    )  # the test CA is not trusted here
    result = send(env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    paused = [line for line in result.stdout.splitlines() if "PAUSED" in line]
    assert len(paused) == 1 and f"MAILER_TRANSPORT=smtp://127.0.0.1:{port}" in paused[0]
    assert "certificate is not trusted" in paused[0] and server.logins == []


def test_smtps_implicit_tls_is_fine(database_url, engine, sample_list, cert, servers):
    server = FaultySmtp()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; the whole session is TLS here
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=context,
        authenticator=server.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    servers.append(controller)
    env = env_for(
        database_url, f"smtps://127.0.0.1:{controller.port}?timeout=5", SSL_CERT_FILE=str(cert[0])
    )
    result = send(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.accepted) == 21 and server.logins and server.logins[0] == ("sender", True)
