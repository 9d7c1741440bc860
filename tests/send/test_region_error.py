"""The ses transport without a region, as an operator meets it: `mailer send` in a subprocess. The
error names what botocore reads (it ignores AWS_REGION, which other AWS tools read), and following
it works."""

from __future__ import annotations

from tests.send.conftest import ISSUE
from tests.send.helpers import mailer_env, run


def without_region(database_url: str, endpoint: str, **extra: str) -> dict[str, str]:
    env = mailer_env(database_url, endpoint, **extra)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(key, None)
    return env


def test_missing_region_names_what_botocore_reads(
    database_url, engine, sample_list, fake_ses, tmp_path
):
    config = tmp_path / "aws-config"
    config.write_text("[profile newsletter]\noutput = json\n")
    env = without_region(
        database_url, fake_ses.url, AWS_PROFILE="newsletter", AWS_CONFIG_FILE=str(config)
    )
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AWS_DEFAULT_REGION" in lines[0] and "not AWS_REGION" in lines[0]
    assert (
        "`region = ...`" in lines[0]
        and "[profile newsletter]" in lines[0]
        and str(config) in lines[0]
    )
    assert fake_ses.received == []


def test_a_profile_missing_from_the_config_file_is_one_line_naming_it(
    database_url, engine, sample_list, fake_ses
):
    env = without_region(database_url, fake_ses.url, AWS_PROFILE="newsletter")
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (
        "AWS_PROFILE" in result.stderr
        and "newsletter" in result.stderr
        and "/nonexistent" in result.stderr
    )


def test_aws_region_alone_is_not_enough_and_the_message_says_so(
    database_url, engine, sample_list, fake_ses
):
    env = without_region(database_url, fake_ses.url, AWS_REGION="us-east-1")
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert (
        result.returncode == 1
        and "not AWS_REGION" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_region_in_the_config_file_the_message_names_is_read(
    database_url, engine, sample_list, fake_ses, tmp_path
):
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = without_region(database_url, fake_ses.url, AWS_CONFIG_FILE=str(config))
    first = run(env, "send", "--issue", ISSUE, "--yes")
    assert first.returncode == 0, first.stderr
    assert len(fake_ses.received) == 21
