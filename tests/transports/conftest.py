"""The transports' unit tests use the send tests' AWS settings (never AWS) and fake SES endpoint."""

from tests.send.conftest import aws_env, fake_ses  # noqa: F401  (fixtures: aws_env is autouse)
