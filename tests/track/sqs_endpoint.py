"""A small SQS stand-in for the event intake benchmark and the tests that run several pollers at
once: one queue, botocore's JSON protocol (X-Amz-Target: AmazonSQS.<Action>), every answer after
a fixed latency, on one asyncio loop (so that it takes little of the CPUs the poller is measured on,
and no request races another one).

Actions: ReceiveMessage (up to MaxNumberOfMessages, long poll up to WaitTimeSeconds; a received
message is invisible for the visibility timeout, then handed out again), DeleteMessage,
DeleteMessageBatch, SendMessage, SendMessageBatch, GetQueueAttributes (ApproximateNumberOfMessages,
ApproximateNumberOfMessagesNotVisible, and Received: messages handed out, counting redeliveries).
Any QueueUrl names the one queue. Prints the queue URL on the first line, runs until killed.

    python tests/track/sqs_endpoint.py [--gated] LATENCY_SECONDS [BODIES.jsonl] [VISIBILITY_SECONDS]

BODIES.jsonl: one message body a line, each a JSON string; loaded before the URL is printed.
--gated: every ReceiveMessage waits until the stand-in gets SIGUSR1, so that a test can start
several pollers and let them go only once all of them are connected (one could otherwise drain the
queue before the next one has imported its modules).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import heapq
import itertools
import json
import signal
import sys
import time
import uuid


class Queue:
    def __init__(self, visibility: float):
        self.visibility = visibility
        self.bodies: dict[str, str] = {}  # message id -> body, until deleted
        self.ready: collections.deque[str] = collections.deque()
        self.receipts: dict[str, str] = {}  # receipt handle -> message id
        self.current: dict[str, str] = {}  # message id -> its newest receipt handle
        self.invisible: list[tuple[float, str]] = []  # (visible again at, receipt handle)
        self.received = 0
        self.arrived = asyncio.Event()
        self.gate = asyncio.Event()  # set from the start unless --gated (then by SIGUSR1)
        self.counter = itertools.count()

    def send(self, body: str) -> str:
        message_id = str(uuid.UUID(int=next(self.counter)))
        self.bodies[message_id] = body
        self.ready.append(message_id)
        self.arrived.set()
        return message_id

    def _expire(self) -> None:
        now = time.monotonic()
        while self.invisible and self.invisible[0][0] <= now:
            _, receipt = heapq.heappop(self.invisible)
            message_id = self.receipts.pop(receipt, None)
            if message_id in self.bodies and self.current.get(message_id) == receipt:
                del self.current[message_id]
                self.ready.append(message_id)

    def take(self, limit: int) -> list[dict]:
        self._expire()
        out = []
        deadline = time.monotonic() + self.visibility
        while self.ready and len(out) < limit:
            message_id = self.ready.popleft()
            if message_id not in self.bodies:
                continue
            receipt = uuid.uuid4().hex
            self.receipts[receipt] = message_id
            self.current[message_id] = receipt
            heapq.heappush(self.invisible, (deadline, receipt))
            body = self.bodies[message_id]
            out.append(
                {
                    "MessageId": message_id,
                    "ReceiptHandle": receipt,
                    "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own
                    "Body": body,
                }
            )
        self.received += len(out)
        if not self.ready:
            self.arrived.clear()
        return out

    def delete(self, receipt: str) -> bool:
        message_id = self.receipts.pop(receipt, None)
        if message_id is None:
            return False
        self.bodies.pop(message_id, None)
        self.current.pop(message_id, None)
        return True

    def attributes(self) -> dict[str, str]:
        self._expire()
        visible = sum(1 for m in self.ready if m in self.bodies)
        return {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(len(self.bodies) - visible),
            "Received": str(self.received),
        }


async def act(queue: Queue, action: str, request: dict) -> tuple[int, dict]:
    if action == "ReceiveMessage":
        await queue.gate.wait()
        limit = max(1, min(10, int(request.get("MaxNumberOfMessages", 1))))
        messages = queue.take(limit)
        wait = float(request.get("WaitTimeSeconds", 0))
        if not messages and wait > 0:
            try:
                await asyncio.wait_for(queue.arrived.wait(), wait)
            except TimeoutError:
                pass
            messages = queue.take(limit)
        return 200, {"Messages": messages} if messages else {}
    if action == "DeleteMessage":
        queue.delete(request["ReceiptHandle"])
        return 200, {}
    if action == "DeleteMessageBatch":
        ok, failed = [], []
        for entry in request.get("Entries", []):
            if queue.delete(entry["ReceiptHandle"]):
                ok.append({"Id": entry["Id"]})
            else:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": True,
                        "Code": "ReceiptHandleIsInvalid",
                        "Message": "unknown receipt handle",
                    }
                )
        return 200, {"Successful": ok, "Failed": failed}
    if action == "SendMessage":
        return 200, {"MessageId": queue.send(request["MessageBody"])}
    if action == "SendMessageBatch":
        sent = [
            {"Id": e["Id"], "MessageId": queue.send(e["MessageBody"])}
            for e in request.get("Entries", [])
        ]
        return 200, {"Successful": sent, "Failed": []}
    if action == "GetQueueAttributes":
        return 200, {"Attributes": queue.attributes()}
    return 400, {"__type": "com.amazonaws.sqs#InvalidAction", "message": f"no {action} here"}


def answer(status: int, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    reason = "OK" if status == 200 else "Bad Request"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {len(body)}\r\nx-amzn-RequestId: {uuid.uuid4()}\r\n\r\n"
    ).encode("latin-1") + body


async def serve(reader, writer, queue: Queue, latency: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            target = headers.get(b"x-amz-target", b"").decode()
            status, payload = await act(queue, target.rpartition(".")[2], json.loads(body or b"{}"))
            if latency:
                await asyncio.sleep(latency)
            writer.write(answer(status, payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(latency: float, bodies_path: str | None, visibility: float, gated: bool) -> None:
    queue = Queue(visibility)
    if gated:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, queue.gate.set)
    else:
        queue.gate.set()
    if bodies_path:
        with open(bodies_path, encoding="utf-8") as lines:
            for line in lines:
                queue.send(json.loads(line))
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, queue, latency), "127.0.0.1", 0, backlog=512, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/000000000000/events", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--gated"]
    asyncio.run(
        main(
            float(args[0]) if args else 0.0,
            args[1] if len(args) > 1 and args[1] else None,
            float(args[2]) if len(args) > 2 else 30.0,
            "--gated" in sys.argv[1:],
        )
    )
