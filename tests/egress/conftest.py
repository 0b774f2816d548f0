"""Local HTTP servers for the transport-guard tests, and a guard fixture that cleans up after itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from loomllm._egress import guard as guard_module
from loomllm._egress import install_transport_guard, transport_guard_installed, uninstall_transport_guard

_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@dataclass
class LocalServer:
    """A stdlib HTTP server on 127.0.0.1 that counts TCP connections and requests."""

    server: ThreadingHTTPServer
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The random port the server listens on."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"


def _start(respond: Callable[[BaseHTTPRequestHandler], None]) -> LocalServer:
    holder: dict[str, LocalServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            with holder["s"].lock:
                holder["s"].requests.append(f"{self.command} {self.path}")
            respond(self)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class CountingServer(ThreadingHTTPServer):
        daemon_threads = True

        def verify_request(self, request: Any, client_address: Any) -> bool:
            with holder["s"].lock:
                holder["s"].connections += 1
            return True

    local = LocalServer(CountingServer(("127.0.0.1", 0), Handler))
    holder["s"] = local
    threading.Thread(target=local.server.serve_forever, daemon=True).start()
    return local


def _reply_completion(handler: BaseHTTPRequestHandler) -> None:
    length = int(handler.headers.get("content-length") or 0)
    handler.rfile.read(length)
    body = json.dumps(_COMPLETION).encode()
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def forbidden() -> Iterator[LocalServer]:
    """A server that answers like OpenAI; under a policy that refuses it, it must see zero connections."""
    server = _start(_reply_completion)
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def redirector(forbidden: LocalServer) -> Iterator[LocalServer]:
    """A server that answers every request with a 307 redirect to the forbidden server."""

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        handler.rfile.read(length)
        handler.send_response(307)
        handler.send_header("location", f"{forbidden.url}{handler.path}")
        handler.send_header("content-length", "0")
        handler.end_headers()

    server = _start(redirect)
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def guard() -> Iterator[None]:
    """Install the transport guard for one test, restoring whatever was there before."""
    was_installed = transport_guard_installed()
    previous = guard_module._STATE.resolver
    install_transport_guard()
    yield
    if was_installed:
        install_transport_guard(previous)
    else:
        uninstall_transport_guard()
