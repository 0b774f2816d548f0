"""Shared pieces of the attack tests: credentials, configs, a redirecting server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loomllm.testing import WireServer

# A deployment key shaped like no vendor's (so that only the credential scrubber can catch it).
DEPLOYMENT_KEY = "loomtest-4f9b2c7e1d8a6035b2e9c4f7a1d3e6b8"
AWS_KEY = "AKIA" + "Q3EGRVLMZ7TPKX2N"
GITHUB_TOKEN = "ghp_" + "R8s2KfQ0pLx7VwN3bYc5Hd9JmT1eZa4Ug6Io"


class Redirector:
    """A stdlib server on 127.0.0.1 that answers every request ``status`` to ``target`` (and counts them).

    ``keep_path``: the request's path is appended to ``target`` (a base URL); else ``target`` is the whole
    location (an image host gone bad).
    """

    def __init__(self, target: str, *, status: int = 307, keep_path: bool = True) -> None:
        self.target = target
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.do_GET()

            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(status)
                self.send_header("Location", owner.target + (self.path if keep_path else ""))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECURE_SECTION = """
loomllm:
  agents:
    worker: {{model: primary, budget: tight, max_tokens: 20{agent_extra}}}
  budgets:
    policies:
      tight: {{limits: [{{tokens: 100000, per: day}}]}}
  guardrails:
    default: standard
  egress:
    default: local
    policies:
      local:
        allow: ["http://127.0.0.1:{port}"]
"""


def secure_config(allowed: WireServer, *, primary: str | None = None, extra_models: str = "",
                  router: str = "", agent_extra: str = "", litellm_settings: str = "") -> str:
    """A config with one budgeted, guarded, egress-limited agent on the allowed server."""
    primary = primary or f'{{model: openai/gpt-4o-mini, api_base: "{allowed.openai_base}", api_key: {DEPLOYMENT_KEY}}}'
    text = f"model_list:\n  - model_name: primary\n    litellm_params: {primary}\n{extra_models}"
    text += f"router_settings:\n  num_retries: 0\n  retry_after: 0\n{router}"
    text += litellm_settings
    return text + SECURE_SECTION.format(port=allowed.port, agent_extra=agent_extra)


def priced_config(wire_server: WireServer, *, limit: str = "usd: 0.001", max_tokens: int = 20, models: str = "",
                  router: str = "", agent_extra: str = "", api_key: str = "sk-test-123456789") -> str:
    """A config with one priced gpt-4o deployment and the agent ``spender`` under the hard budget ``tiny``."""
    return f"""
model_list:
  - model_name: priced
    litellm_params: {{model: openai/gpt-4o, api_base: "{wire_server.openai_base}", api_key: {api_key}}}
{models}
router_settings: {{num_retries: 0{router}}}
loomllm:
  agents:
    spender: {{model: priced, max_tokens: {max_tokens}, budget: tiny{agent_extra}}}
  budgets:
    policies:
      tiny: {{mode: hard, limits: [{{{limit}, per: day}}]}}
"""


def sent_bodies(server: WireServer) -> str:
    """Everything the server received, as one string (bodies, paths, queries, headers)."""
    return json.dumps([{"body": r.body, "path": r.path, "query": dict(r.query), "headers": dict(r.headers)}
                       for r in server.requests])
