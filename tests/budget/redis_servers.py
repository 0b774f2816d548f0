"""Real redis-server (or valkey-server) processes that a test starts, kills and restarts on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest

__all__ = ["Flavor", "RedisServer", "free_port", "require_redis_server", "require_valkey", "start_cluster"]

Flavor = Literal["redis", "valkey"]


def require_redis_server() -> str:
    """The redis-server binary (or valkey-server); skip outside CI when neither is installed."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server is not installed")
    return binary


def _valkey_binary(name: str) -> str | None:
    # scripts/valkey unpacks the binaries into <venv>/valkey/bin (or $LOOMLLM_VALKEY_BIN).
    for directory in (os.environ.get("LOOMLLM_VALKEY_BIN"), str(Path(sys.prefix) / "valkey" / "bin")):
        if directory and os.access(Path(directory) / name, os.X_OK):
            return str(Path(directory) / name)
    return shutil.which(name)


def require_valkey(name: str = "valkey-server") -> str:
    """A Valkey binary (``valkey-server`` or ``valkey-cli``); skip when missing, fail in CI on x86_64 Linux,
    where ``scripts/valkey`` installs it."""
    binary = _valkey_binary(name)
    if binary is None:
        if os.environ.get("CI") == "true" and sys.platform == "linux" and os.uname().machine == "x86_64":
            pytest.fail(f"{name} is required in CI (scripts/valkey installs it)")
        pytest.skip(f"{name} is not installed: run scripts/valkey (or set LOOMLLM_VALKEY_BIN)")
    return binary


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server with an fsync-always append-only file: a SIGKILL loses nothing it acknowledged."""

    def __init__(self, directory: Path, port: int | None = None, *extra: str, flavor: Flavor = "redis") -> None:
        self.binary = require_valkey() if flavor == "valkey" else require_redis_server()
        self.directory = directory
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self._may_move = port is None  # until it first answers: a port it lost to a race may be swapped
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart, reloading the append-only file) and wait until it answers PING.

        A port :func:`free_port` found free can be taken by another process before the server binds it (a
        client's outgoing connection, another suite's server); a first start that exits at once is retried on
        new ports. A restart keeps its ports: clients and cluster peers know them.
        """
        for _attempt in range(3):
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                    "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
                    "--loglevel", "warning", *self.extra]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(self.process):
                self._may_move = False
                return self
            if not self._may_move or self.process.poll() is None:
                break
            self.port, self.extra = free_port(), _with_new_cluster_port(self.extra)
        raise RuntimeError(f"{self.binary} on port {self.port} did not start")

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5).ping():
                    return True
            except redis.RedisError:
                time.sleep(0.05)
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop it if it runs (used at teardown)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def _with_new_cluster_port(extra: tuple[str, ...]) -> tuple[str, ...]:
    """``extra`` with a new free ``--cluster-port`` (if it names one) and no cluster config left by a failed start."""
    args = list(extra)
    if "--cluster-port" in args:
        args[args.index("--cluster-port") + 1] = str(free_port())
    if "--cluster-config-file" in args:
        Path(args[args.index("--cluster-config-file") + 1]).unlink(missing_ok=True)
    return tuple(args)


def start_cluster(directory: Path, nodes: int = 3, flavor: Flavor = "redis") -> list[RedisServer]:
    """``nodes`` primaries with ``--cluster-enabled yes``, joined by ``redis-cli --cluster create``
    (``valkey-cli`` for a Valkey cluster)."""
    if flavor == "valkey":
        cli: str | None = require_valkey("valkey-cli")
    else:
        cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if cli is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-cli is required in CI")
        pytest.skip("redis-cli is not installed")
    servers = [
        # The cluster bus defaults to port + 10000, which may not exist for a high free port: pick one too.
        RedisServer(directory / f"node{i}", None, "--cluster-enabled", "yes", "--cluster-config-file",
                    str(directory / f"node{i}" / "nodes.conf"), "--cluster-node-timeout", "2000",
                    "--cluster-port", str(free_port()), flavor=flavor)
        for i in range(nodes)
    ]
    for server in servers:
        server.start()
    addresses = [f"127.0.0.1:{s.port}" for s in servers]
    subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                   check=True, capture_output=True, timeout=60)
    _wait_cluster_ok(servers[0].port)
    return servers


def _wait_cluster_ok(port: int) -> None:
    import redis

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = redis.Redis(port=port).execute_command("CLUSTER INFO")  # redis-py parses it into a dict
        if (info.get("cluster_state") if isinstance(info, dict) else None) == "ok":
            return
        time.sleep(0.1)
    raise RuntimeError("the Redis cluster did not reach cluster_state:ok")
