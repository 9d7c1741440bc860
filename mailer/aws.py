"""The one place the package makes boto3 sessions and clients (ARCHITECTURE.md, "Layers and rules":
provider formats stop at the edge).

Region and credentials come from boto3's chain: AWS_PROFILE, AWS_DEFAULT_REGION, the profile's
`region` in the config file, the credential providers. AWS_ENDPOINT_URL(_SQS, _SNS, _SESV2, ...)
point a service at a local endpoint, MAILER_SES_ENDPOINT_URL the ses transport (as `endpoint_url`).
What the chain cannot resolve becomes one ConfigError line saying what to set. On the ground floor,
not in track/: the ses transport, one layer below track, makes its clients here too.
"""

from __future__ import annotations

import os
import re

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError, ProfileNotFound

from mailer.errors import ConfigError

Session = boto3.session.Session

# An SQS queue URL names its region (https://sqs.<region>.amazonaws.com/<account>/<name>).
_QUEUE_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


def _config_file() -> str:
    return os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"


def session() -> Session:
    """A session on the boto3 chain; a profile missing from the config file is a ConfigError."""
    try:
        return Session()
    except ProfileNotFound:
        profile = os.environ.get("AWS_PROFILE", "")
        raise ConfigError(
            f"AWS_PROFILE {profile!r} is not a profile in {_config_file()}: "
            "add a [profile NAME] section there, or unset AWS_PROFILE"
        ) from None


def missing_region(profile: str | None, purpose: str = "the ses transport") -> str:
    """What to set when botocore finds no region. botocore reads AWS_DEFAULT_REGION and the
    profile's `region` in the config file; AWS_REGION, which the AWS CLI v2 and other SDKs read, it
    ignores."""
    section = "[default]" if profile in (None, "default") else f"[profile {profile}]"
    return (
        f"AWS region is not set for {purpose}: set AWS_DEFAULT_REGION (boto3 reads it, not "
        f"AWS_REGION) or add `region = ...` to the {section} section of {_config_file()}"
    )


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    config: Config | None = None,
    on: Session | None = None,
    purpose: str | None = None,
):
    """A boto3 client for `service` on session `on` (default: a new one on the chain). `region`
    overrides the chain's; `purpose` names the client in the missing-region message."""
    on = on or session()
    try:
        return on.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    except NoRegionError as exc:
        raise ConfigError(missing_region(on.profile_name, purpose or f"AWS {service}")) from exc


def ses_send_config(*, connect_timeout: float, read_timeout: float, pool_size: int) -> Config:
    """botocore settings for the ses transport's clients. SDK retries off: the send loop retries and
    counts attempts. One pooled connection per call in flight. Request validation off: we build the
    request ourselves and SES validates it anyway (it costs CPU on every call)."""
    return Config(
        retries={"total_max_attempts": 1},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=pool_size,
        parameter_validation=False,
    )


def sqs_poll_config(receivers: int) -> Config:
    """botocore settings for the event poller's SQS client: one pooled connection per receiving
    thread (botocore's default pool of 10 would drop the connections of the others). The long
    poll's 20 s wait fits in the read timeout. Request validation off: the poller's requests are
    its own, and validating them costs CPU on every call."""
    return Config(max_pool_connections=receivers, read_timeout=30, parameter_validation=False)


def probe_config() -> Config:
    """botocore settings for `mailer doctor`'s reads: an answer within seconds or a clear failure
    (botocore's defaults wait a minute per attempt), a few retries for a throttled read."""
    return Config(
        connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}
    )


def queue_region(queue_url: str | None) -> str | None:
    """The region an SQS queue URL names, or None (a local endpoint's URL names none)."""
    match = _QUEUE_REGION.match(queue_url or "")
    return match.group(1) if match else None
