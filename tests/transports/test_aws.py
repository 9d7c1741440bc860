"""mailer/aws.py is the one place boto3 clients are made, and what the chain lacks is one line; the
two SES paths share one error table (ses_errors.py) instead of importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mailer import aws
from mailer.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "mailer"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_mailer_aws_imports_boto3():
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == "boto3" for name in imported_modules(path))
    }
    assert importers == {"aws.py"}


def test_the_two_ses_paths_do_not_import_each_other():
    transports = PACKAGE / "transports"
    assert "mailer.transports.ses" not in imported_modules(transports / "ses_lean.py")
    assert "mailer.transports.ses_errors" in imported_modules(transports / "ses_lean.py")
    assert "mailer.transports.ses_errors" in imported_modules(transports / "ses.py")


def test_a_missing_region_is_one_line_naming_the_client_and_what_to_set(monkeypatch, tmp_path):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(ConfigError) as error:
        aws.client("sqs", purpose="SQS")
    message = str(error.value)
    assert "\n" not in message and message.startswith("AWS region is not set for SQS:")
    assert "AWS_DEFAULT_REGION" in message and "[default]" in message and str(tmp_path) in message
    assert aws.client("sqs", region="eu-west-1", purpose="SQS").meta.region_name == "eu-west-1"


def test_a_profile_missing_from_the_config_file_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "newsletter")
    with pytest.raises(ConfigError, match="AWS_PROFILE 'newsletter' is not a profile in"):
        aws.session()


@pytest.mark.parametrize(
    "url, region",
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/ses-events", "eu-west-1"),
        ("http://127.0.0.1:4566/000000000000/ses-events", None),
        (None, None),
    ],
)
def test_an_sqs_queue_url_names_its_region(url, region):
    assert aws.queue_region(url) == region
