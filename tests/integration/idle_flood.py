"""idle_flood — a client process that opens N TCP connections to HOST:PORT (from source address SRC) and sends
nothing on them: the "many idle connections" attacker of issue 11 item 6. Run as a child process (each one stays
under its own descriptor limit). Prints one JSON line once all connects were tried: how many connected and how
many the server has already closed; then waits for a line on stdin (or EOF), counts again, prints a second line
and exits.

usage: python3 idle_flood.py HOST PORT N [SRC]
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time


def still_open(socks):
    alive = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_DONTWAIT)
            if data:
                alive += 1  # an answer: still open
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def main() -> int:
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    src = sys.argv[4] if len(sys.argv) > 4 else None
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if src:
            s.bind((src, 0))
        try:
            s.connect((host, port))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    time.sleep(0.5)
    print(json.dumps({"connected": len(socks), "failed": failed, "open": still_open(socks)}), flush=True)
    select.select([sys.stdin], [], [], 600)
    print(json.dumps({"open": still_open(socks)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
