"""track.sqs_lean against boto3, on moto in server mode and on the SQS stand-in: ReceiveMessage
and DeleteMessageBatch answer with what boto3's calls return (less ResponseMetadata), a call that
does not come back 200 is made again through boto3 (its error is boto3's), every other call is the
boto3 client's, and the lean path is not used where it would not send what boto3 sends."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mailer.track.intake import poll_queue
from mailer.track.sqs_lean import LeanSqs
from tests.track.dbview import events
from tests.track.payloads import text
from tests.track.sns_signing import REGION
from tests.track.test_poll_batches import LEDGER_EVENTS, TOPIC, drained, enqueue, standin  # noqa: F401


def clients(endpoint: str, **config):
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    client = session.client("sqs", endpoint_url=endpoint, config=Config(**config))
    return client, LeanSqs.for_client(session, client, pool_size=2)


def without_metadata(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture(params=["moto", "standin"])
def queue(request, moto_endpoint, standin):  # noqa: F811
    """(boto3 client, lean client, queue URL) with 12 messages on the queue."""
    if request.param == "moto":
        endpoint = moto_endpoint
        client, lean = clients(endpoint)
        url = client.create_queue(QueueName=f"lean-{id(request)}")["QueueUrl"]
    else:
        _, url, endpoint = standin
        client, lean = clients(endpoint)
    enqueue(client, url, [text(name) for name in LEDGER_EVENTS] + ["two", "more"])
    return client, lean, url


def test_receive_and_delete_answer_as_boto3(queue):
    client, lean, url = queue
    assert isinstance(lean, LeanSqs)
    # five messages each way: the same members, and between them the ten first bodies
    ours = lean.receive_message(QueueUrl=url, MaxNumberOfMessages=5, WaitTimeSeconds=0)
    theirs = without_metadata(
        client.receive_message(QueueUrl=url, MaxNumberOfMessages=5, WaitTimeSeconds=0)
    )
    assert set(ours) == set(theirs) == {"Messages"}
    assert len(ours["Messages"]) == len(theirs["Messages"]) == 5
    assert {frozenset(m) for m in ours["Messages"]} == {frozenset(m) for m in theirs["Messages"]}
    received = ours["Messages"] + theirs["Messages"]
    assert sorted(m["Body"] for m in received) == sorted(text(n) for n in LEDGER_EVENTS)
    assert all(isinstance(m["MessageId"], str) and m["ReceiptHandle"] for m in received)

    entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    deleted = lean.delete_message_batch(QueueUrl=url, Entries=entries)
    assert set(deleted) <= {"Successful", "Failed"} and not deleted.get("Failed")
    assert sorted(deleted["Successful"], key=lambda e: int(e["Id"])) == [
        {"Id": e["Id"]} for e in entries
    ]
    rest = lean.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert sorted(m["Body"] for m in rest["Messages"]) == ["more", "two"]
    client.delete_message(QueueUrl=url, ReceiptHandle=rest["Messages"][0]["ReceiptHandle"])
    last = [{"Id": "0", "ReceiptHandle": rest["Messages"][1]["ReceiptHandle"]}]
    assert lean.delete_message_batch(QueueUrl=url, Entries=last)["Successful"] == [{"Id": "0"}]
    empty = lean.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    again = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert empty.get("Messages", []) == [] == again.get("Messages", [])


def test_an_error_is_boto3s(moto_endpoint):
    client, lean = clients(moto_endpoint, retries={"total_max_attempts": 1})
    missing = moto_endpoint + "/123456789012/no-such-queue"
    with pytest.raises(ClientError) as theirs:
        client.receive_message(QueueUrl=missing, MaxNumberOfMessages=10)
    with pytest.raises(ClientError) as ours:
        lean.receive_message(QueueUrl=missing, MaxNumberOfMessages=10)
    assert ours.value.response["Error"] == theirs.value.response["Error"]
    with pytest.raises(ClientError) as ours:
        lean.delete_message_batch(QueueUrl=missing, Entries=[{"Id": "0", "ReceiptHandle": "x"}])
    assert ours.value.response["Error"]["Code"] == theirs.value.response["Error"]["Code"]


def test_other_calls_are_the_boto3_clients(moto_endpoint):
    client, lean = clients(moto_endpoint)
    assert lean.delete_message == client.delete_message
    assert lean.meta is client.meta


def test_no_lean_path_through_a_proxy_or_another_signature(moto_endpoint, monkeypatch):
    assert clients(moto_endpoint, proxies={"http": "http://proxy.example:3128"})[1] is None
    assert clients(moto_endpoint, signature_version="v2")[1] is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert clients(moto_endpoint)[1] is None


def test_a_poll_through_the_lean_path_records_and_drains(standin, factory, database_url):  # noqa: F811
    _, url, endpoint = standin
    client, lean = clients(endpoint)
    enqueue(client, url, [text(name) for name in LEDGER_EVENTS] * 2)
    result = poll_queue(lean, url, factory, [TOPIC], once=True, wait_seconds=0, receivers=4)
    assert (result.messages_deleted, result.messages_left) == (20, 0)
    assert result.recorded == len(events(factory)) == 11
    assert drained(client, url)
