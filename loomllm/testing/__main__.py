"""Run the wire server on its own: ``python -m loomllm.testing [--port N] [--latency S]``.

Benchmarks use this to keep the server's threads out of the measured process (they would
otherwise share its GIL). The first line printed is the base URL; the server echoes every chat
request (optionally after ``--latency`` seconds) until interrupted or terminated.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from loomllm.testing._replies import Reply
from loomllm.testing._server import WireServer


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print the base URL first."""
    parser = argparse.ArgumentParser(prog="python -m loomllm.testing", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each reply")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with WireServer(args.host, args.port) as server:
        if args.latency > 0:
            server.route(Reply.echo(latency=args.latency))
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
