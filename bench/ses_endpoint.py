"""The benchmark's SES stand-in: sesv2 SendEmail and GetAccount over keep-alive HTTP/1.1, answering
each SendEmail after a fixed latency. Prints its URL on the first line, runs until killed.

Why not tests/send/fakeses.py (the fault-injecting endpoint of the tests): in production SES runs
on Amazon's machines, here it shares the benchmark's two CPUs with the sender under test. fakeses
serves each connection in a thread that sleeps out the latency, and at 1,000 msg/s with 50 ms of
latency its ~60 threads cost ~300 µs of CPU per request in GIL hand-offs. One asyncio loop does the
same work (every request body is still read in full) for a fraction of that.

    python bench/ses_endpoint.py LATENCY_SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

ACCOUNT = json.dumps(
    {
        "SendQuota": {"Max24HourSend": 1e9, "MaxSendRate": 1e6, "SentLast24Hours": 0.0},
        "SendingEnabled": True,
        "EnforcementStatus": "HEALTHY",
        "ProductionAccessEnabled": True,
    }
).encode()


def answer(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\n\r\n"
    ).encode("latin-1") + body


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, header_text = head.partition(b"\r\n")
            length = 0
            for line in header_text.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            method, path = request_line.split(b" ")[:2]
            if method == b"GET" and path.startswith(b"/v2/email/account"):
                writer.write(answer("200 OK", ACCOUNT))
            elif (
                method == b"POST"
                and path.startswith(b"/v2/email/outbound-emails")
                and b'"ToAddresses"' in body
            ):
                if latency:
                    await asyncio.sleep(latency)
                writer.write(
                    answer("200 OK", b'{"MessageId":"%s-bench"}' % uuid.uuid4().hex.encode())
                )
            else:
                writer.write(answer("404 Not Found", b'{"message":"not found"}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(latency: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, latency), "127.0.0.1", 0, backlog=512, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0))
