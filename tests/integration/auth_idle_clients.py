"""auth_idle_clients — one client process of the 10,000-session expiry test (test_policy_auth_scale.py).

Usage: python3 auth_idle_clients.py SPEC.json. SPEC: {"port": P, "host": H, "concurrency": C,
"sessions": [{"path": "/idle/3", "token": "eyJ…", "exp": 1234567890.123}, …]}.

Opens every session with a raw WebSocket handshake (Authorization: Bearer), prints one JSON line
{"connected": N, "failed": M, "errors": [...]} when all handshakes are done, then waits idle for the server's
close frame on each session, answers it, and prints a final JSON line {"results": [[index, closed_at_wall,
code, reason], …]} (closed_at_wall None when nothing came before the deadline). Raw asyncio streams, not a
WebSocket library: thousands of idle sessions per process must cost little CPU, so the close times measured
are the data plane's, not the client's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time


async def open_session(host: str, port: int, path: str, token: str):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        writer.close()
        raise RuntimeError(f"status {status}")
    return reader, writer


async def wait_close(reader, writer, deadline: float):
    """Reads frames until a close frame; returns (wall time, code, reason)."""
    try:
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None, None, None
            hdr = await asyncio.wait_for(reader.readexactly(2), left)
            opcode, n = hdr[0] & 0x0F, hdr[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(n)
            if opcode == 8:
                at = time.time()
                code = struct.unpack("!H", payload[:2])[0] if n >= 2 else 1005
                mask = os.urandom(4)
                body = payload[:2]
                writer.write(bytes([0x88, 0x80 | len(body)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
                return at, code, payload[2:].decode(errors="replace")
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
        return time.time(), None, None
    finally:
        writer.close()


async def main(spec: dict) -> None:
    host, port = spec["host"], spec["port"]
    sessions = spec["sessions"]
    sem = asyncio.Semaphore(spec.get("concurrency", 200))
    conns: list = [None] * len(sessions)
    errors: list[str] = []

    async def connect(i: int, s: dict):
        async with sem:
            try:
                conns[i] = await open_session(host, port, s["path"], s["token"])
            except Exception as e:  # noqa: BLE001 - reported to the test
                errors.append(f"{i}: {e!r}")

    await asyncio.gather(*(connect(i, s) for i, s in enumerate(sessions)))
    print(json.dumps({"connected": sum(c is not None for c in conns), "failed": len(errors),
                      "errors": errors[:10]}), flush=True)
    deadline = max(s["exp"] for s in sessions) + spec.get("grace", 5.0)

    async def watch(i: int):
        if conns[i] is None:
            return [i, None, None, None]
        at, code, reason = await wait_close(*conns[i], deadline)
        return [i, at, code, reason]

    results = await asyncio.gather(*(watch(i) for i in range(len(sessions))))
    print(json.dumps({"results": results}), flush=True)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
