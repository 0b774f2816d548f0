"""Test helpers for loomllm users: a local wire server that speaks LLM provider formats.

:class:`WireServer` is a real HTTP server on 127.0.0.1 that answers OpenAI chat completions and
embeddings, Anthropic messages and Gemini generateContent requests, JSON or streamed (SSE), so
tests exercise LiteLLM's real translation code with no API keys and no network::

    from loomllm.testing import Reply, WireServer

    with WireServer() as server:
        server.script(Reply.status(429, retry_after=0), Reply.text("ok"))
        server.route(Reply.status(500), model="broken-model")
        ...  # point LiteLLM deployments at server.openai_base / server.anthropic_base
        assert server.requests[0].headers["authorization"] == "<redacted>"

With pytest, the ``wire_server`` fixture (registered by the ``loomllm`` plugin) gives each test a
running server with no scripts, routes or recorded requests.
"""

from loomllm.testing._replies import Api, Reply, ToolCall
from loomllm.testing._server import REDACTED, RecordedRequest, Responder, WireServer
from loomllm.testing._wire import DEFAULT_EMBEDDING_DIM, count_tokens, embedding_vector

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "REDACTED",
    "Api",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ToolCall",
    "WireServer",
    "count_tokens",
    "embedding_vector",
]
