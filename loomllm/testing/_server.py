"""The wire server: a real HTTP/1.1 server on 127.0.0.1 that answers like LLM providers.

Layout: :class:`WireServer` is the public handle (lifecycle, scripting, recorded requests);
``_Rules`` holds the scripted replies under one lock; ``_Handler`` parses HTTP, asks the rules for
a :class:`Reply` and writes what :func:`loomllm.testing._wire.render` produced. One thread per
connection (``ThreadingHTTPServer``); keep-alive is honoured and every response carries a
``Content-Length``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from loomllm.testing._replies import Api, Reply
from loomllm.testing._wire import JSON, ParsedRequest, WireResponse, error_body, models_json, render

Responder = Callable[["RecordedRequest"], Reply]
"""A function that picks the reply for a request at the time it arrives."""

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization"})
_SECRET_QUERY = frozenset({"key", "api_key", "api-key"})
_SCRIPTABLE: frozenset[Api] = frozenset({"openai", "anthropic", "gemini", "embeddings", "moderations"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request the wire server received.

    ``headers`` has lower-cased names, and credentials (``Authorization``, ``x-api-key``,
    ``api-key``, ``x-goog-api-key``) replaced by ``"<redacted>"``; so are ``key`` query
    parameters. ``body`` is the parsed JSON body (``{}`` when absent or not JSON). ``model`` is
    the model named in the body (for Gemini, in the URL). ``api`` says which wire format the path
    belongs to (``None`` for unknown paths, which are answered 404).
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]
    model: str | None
    api: Api | None
    stream: bool


@dataclass
class _Rule:
    reply: Reply | Responder
    model: str | None
    api: Api | None

    def matches(self, request: RecordedRequest) -> bool:
        if request.api not in _SCRIPTABLE or (self.api is not None and self.api != request.api):
            return False
        return _model_matches(self.model, request.model)


def _model_matches(wanted: str | None, requested: str | None) -> bool:
    """``wanted`` (None = any) names ``requested``, with or without a LiteLLM provider prefix."""
    if wanted is None:
        return True
    return requested is not None and (wanted == requested or wanted.endswith("/" + requested))


@dataclass
class _Rules:
    """Scripts, standing routes and the request log, all guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    scripts: list[_Rule] = field(default_factory=list)
    routes: list[_Rule] = field(default_factory=list)
    log: list[RecordedRequest] = field(default_factory=list)

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.log.append(request)

    def take(self, request: RecordedRequest) -> Reply | Responder:
        """Record ``request`` and return its reply: first matching script, else newest matching route."""
        with self.lock:
            self.log.append(request)
            for index, rule in enumerate(self.scripts):
                if rule.matches(request):
                    del self.scripts[index]
                    return rule.reply
            for rule in reversed(self.routes):
                if rule.matches(request):
                    return rule.reply
        return Reply.echo()


def _classify(method: str, path: str) -> tuple[Api | None, str | None]:
    """Which API a path belongs to, and the model it names (Gemini only)."""
    if method == "POST":
        if path.endswith("/chat/completions"):
            return "openai", None
        if path.endswith("/embeddings"):
            return "embeddings", None
        if path.endswith("/moderations"):
            return "moderations", None
        if path.endswith("/messages"):
            return "anthropic", None
        if "/models/" in path and (path.endswith(":generateContent") or path.endswith(":streamGenerateContent")):
            return "gemini", unquote(path.rsplit("/models/", 1)[1].rsplit(":", 1)[0])
    elif method == "GET" and path.endswith("/models"):
        return "models", None
    return None, None


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _redact_headers(items: list[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in items}


def _build_request(method: str, target: str, headers: list[tuple[str, str]], raw: bytes) -> RecordedRequest:
    split = urlsplit(target)
    query = {k: (REDACTED if k.lower() in _SECRET_QUERY else v) for k, v in parse_qsl(split.query)}
    api, url_model = _classify(method, split.path)
    body = _parse_body(raw)
    body_model = body.get("model")
    model = url_model if api == "gemini" else (body_model if isinstance(body_model, str) else None)
    stream = bool(body.get("stream")) or split.path.endswith(":streamGenerateContent")
    return RecordedRequest(method, split.path, query, _redact_headers(headers), body, model, api, stream)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a deep accept backlog and a registry of open connections."""

    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: WireServer) -> None:
        super().__init__(address, _Handler)
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent: a client dropping its connection mid-request is routine in failure tests."""

    def drop_connections(self) -> None:
        """Shut down every open keep-alive connection so its handler thread ends."""
        with self.connections_lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 300
    server: _HTTPServer

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: request lines may carry model names users consider private."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        request = _build_request(self.command, self.path, list(self.headers.items()), self._read_body())
        try:
            response = self.server.owner._respond(request)
        except Exception as exc:  # a bug in a user's Responder must not kill the connection thread
            message = f"wire server failed to build a reply: {type(exc).__name__}"
            response = WireResponse(500, JSON, (error_body(request.api, 500, message),))
        self._write(response)

    def _write(self, response: WireResponse) -> None:
        if response.latency > 0:
            time.sleep(response.latency)
        body_length = sum(len(p) for p in response.parts)
        lines = [
            f"HTTP/1.1 {response.status} {_phrase(response.status)}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {body_length}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        if response.content_type.startswith("text/event-stream"):
            lines.append("Cache-Control: no-cache")
        if response.cut_after is not None or self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        parts = response.parts if response.cut_after is None else response.parts[: response.cut_after]
        try:
            if response.chunk_delay > 0 and len(parts) > 1:
                self._write_slowly(head, parts, response.chunk_delay)
            else:
                self.wfile.write(head + b"".join(parts))
        except OSError:
            self.close_connection = True
            return
        if response.cut_after is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _write_slowly(self, head: bytes, parts: tuple[bytes, ...], delay: float) -> None:
        self.wfile.write(head + parts[0])
        for part in parts[1:]:
            time.sleep(delay)
            self.wfile.write(part)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class WireServer:
    """A local HTTP server that speaks OpenAI, Anthropic and Gemini wire formats.

    It lets tests run LiteLLM's real request/response translation with no API keys and no
    network. By default every chat request is answered with ``"echo: "`` + the last user message;
    :meth:`script` queues one-shot replies and :meth:`route` installs standing rules. Every
    request is recorded (credentials redacted) in :attr:`requests`. Thread-safe.

    Example::

        with WireServer() as server:
            server.script(Reply.status(429, retry_after=0), Reply.text("ok"))
            router = litellm.Router(model_list=[{"model_name": "g", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": server.openai_base, "api_key": "sk-test"}}])

    Token usage is counted by whitespace-split words (see :func:`count_tokens`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._rules = _Rules()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WireServer:
        """Bind (port 0 picks a free port) and serve from a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loomllm-wire-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and drop open keep-alive connections."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("WireServer is not running; call start() or use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def openai_base(self) -> str:
        """``api_base`` for ``openai/`` models: LiteLLM appends ``/chat/completions``, ``/embeddings``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base(self) -> str:
        """``api_base`` for ``anthropic/`` models: LiteLLM appends ``/v1/messages`` itself."""
        return self.url

    @property
    def gemini_base(self) -> str:
        """``api_base`` for ``gemini/`` models: LiteLLM appends ``/models/{model}:generateContent``."""
        return f"{self.url}/v1beta"

    # --- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply | Responder, model: str | None = None, api: Api | None = None) -> None:
        """Queue one-shot replies, consumed in order by the next matching requests.

        ``model`` and ``api`` narrow which requests consume them (``model`` matches the requested
        model name, with or without a LiteLLM provider prefix such as ``openai/``). Scripts take
        precedence over :meth:`route` rules; unmatched requests fall through to routes, then echo.
        """
        with self._rules.lock:
            self._rules.scripts.extend(_Rule(r, model, api) for r in replies)

    def route(self, reply: Reply | Responder, *, model: str | None = None, api: Api | None = None) -> None:
        """Install a standing rule: every matching request gets ``reply`` until :meth:`reset`.

        ``reply`` may be a function of the :class:`RecordedRequest`, called per request. When
        several routes match, the most recently installed wins.
        """
        with self._rules.lock:
            self._rules.routes.append(_Rule(reply, model, api))

    def reset(self) -> None:
        """Forget all scripts, routes and recorded requests."""
        with self._rules.lock:
            self._rules.scripts.clear()
            self._rules.routes.clear()
            self._rules.log.clear()

    @property
    def pending_scripts(self) -> int:
        """How many one-shot replies have not been consumed yet."""
        with self._rules.lock:
            return len(self._rules.scripts)

    # --- recorded requests -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last :meth:`reset`, oldest first (a copy)."""
        with self._rules.lock:
            return list(self._rules.log)

    def requests_for(self, *, model: str | None = None, api: Api | None = None) -> list[RecordedRequest]:
        """The recorded requests for ``model`` and/or ``api`` (``None`` matches any)."""
        return [r for r in self.requests if _model_matches(model, r.model) and (api is None or r.api == api)]

    # --- serving -----------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> WireResponse:
        if request.api is None:
            self._rules.record(request)
            message = f"wire server: no {request.method} route for {request.path}"
            return WireResponse(404, JSON, (error_body(None, 404, message),))
        if request.api == "models":
            self._rules.record(request)
            return WireResponse(200, JSON, (models_json(self._known_models()),))
        chosen = self._rules.take(request)
        reply = chosen if isinstance(chosen, Reply) else chosen(request)
        parsed = ParsedRequest(request.api, request.model, request.body, request.stream)
        return render(parsed, reply)

    def _known_models(self) -> list[str]:
        with self._rules.lock:
            names = [r.model for r in (*self._rules.routes, *self._rules.scripts) if r.model is not None]
        return sorted(set(names)) or ["echo"]
