"""Single-flight across processes, through Redis: one process calls, the others read its answer.

The first process to ``SET NX`` the request's lock key calls the provider, then stores the answer
under the request's result key for a few seconds; processes that find the lock taken poll for
that result. What is stored is the provider's answer before any caller's output guardrail (each
follower applies its own), so it is encrypted (AES-GCM) with a key derived from the request
itself: Redis holds neither the request nor a readable answer, and key names are digests.
Redis trouble never fails a call: the caller then simply makes its own request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["RedisFlight"]

T = TypeVar("T")
_FAILED = b'{"failed":true}'


class RedisFlight:
    """Cross-process coalescing of identical requests (see the module docstring)."""

    def __init__(self, url: str, prefix: str = "loomllm:flight:", *, lock_ttl_s: float = 120.0,
                 result_ttl_s: float = 10.0, poll_s: float = 0.02) -> None:
        self._url = url
        self._prefix = prefix
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._result_ttl_ms = int(result_ttl_s * 1000)
        self._poll_s = poll_s
        self._client: tuple[asyncio.AbstractEventLoop, Any] | None = None

    def _redis(self) -> Any:
        # redis.asyncio connections belong to the loop that opened them; keep one client per loop.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            import redis.asyncio

            self._client = (loop, redis.asyncio.Redis.from_url(self._url, socket_connect_timeout=1.0,
                                                               socket_timeout=2.0))
        return self._client[1]

    async def run(self, material: bytes, call: Callable[[], Awaitable[T]], *, encode: Callable[[T], bytes],
                  decode: Callable[[bytes], T]) -> tuple[T, bool]:
        """``(result, shared)``: another process's answer to the same request, or this call's own."""
        name = self._prefix + hashlib.sha256(b"name\0" + material).hexdigest()
        key = hashlib.sha256(b"key\0" + material).digest()
        try:
            redis = self._redis()
            token = uuid.uuid4().hex
            while True:
                if await _or_down(redis.set(name + ":lock", token, nx=True, px=self._lock_ttl_ms)):
                    return await self._lead(redis, name, token, key, call, encode), False
                blob = await self._await_result(redis, name)
                if blob is None:
                    continue  # the leader vanished without an answer: try to lead
                if blob == _FAILED:
                    break
                shared = _opened(key, blob, decode)
                if shared is None:
                    break  # not an answer this request's key opens (corrupt or forged): ask ourselves
                return shared[0], True
        except _RedisDown:
            pass
        return await call(), False

    async def _lead(self, redis: Any, name: str, token: str, key: bytes, call: Callable[[], Awaitable[T]],
                    encode: Callable[[T], bytes]) -> T:
        try:
            result = await call()
        except BaseException:
            await _quietly(redis.set(name + ":result", _FAILED, px=self._result_ttl_ms))
            await _quietly(redis.delete(name + ":lock"))
            raise
        await _quietly(redis.set(name + ":result", _encrypt(key, encode(result)), px=self._result_ttl_ms))
        await _quietly(redis.delete(name + ":lock"))
        return result

    async def _await_result(self, redis: Any, name: str) -> bytes | None:
        deadline = time.monotonic() + self._lock_ttl_ms / 1000
        pause = self._poll_s
        while time.monotonic() < deadline:
            blob, locked = await _or_down(redis.get(name + ":result")), await _or_down(redis.exists(name + ":lock"))
            if blob is not None:
                return bytes(blob)
            if not locked:  # finished between the two reads, or gone: one last look
                again = await _or_down(redis.get(name + ":result"))
                return bytes(again) if again is not None else None
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.25)
        return _FAILED


class _RedisDown(Exception):
    pass


async def _or_down(operation: Awaitable[Any]) -> Any:
    try:
        return await operation
    except Exception as exc:
        raise _RedisDown() from exc


async def _quietly(operation: Awaitable[Any]) -> None:
    try:
        await operation
    except Exception:  # the answer is already in hand; a failed publish only costs others a call
        return


def _encrypt(key: bytes, plain: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, None)


def _opened(key: bytes, blob: bytes, decode: Callable[[bytes], T]) -> tuple[T] | None:
    """The stored answer, or None when it does not decrypt and decode (never trusted half-way)."""
    try:
        return (decode(_decrypt(key, blob)),)
    except Exception:
        return None


def _decrypt(key: bytes, blob: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).decrypt(blob[:12], blob[12:], None)


def encode_response(response: Any) -> bytes:
    """A chat response as JSON bytes: the body plus the hidden params loomllm reads (deployment, cost)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    kept = {k: hidden[k] for k in ("model_id", "response_cost", "api_base", "custom_llm_provider") if k in hidden}
    return json.dumps({"body": response.model_dump(), "hidden": kept}, default=str).encode()


def decode_response(raw: bytes) -> Any:
    """The inverse of :func:`encode_response`: a ``litellm.ModelResponse``."""
    from loomllm._litellm import litellm_module

    data = json.loads(raw)
    response = litellm_module().ModelResponse(**data["body"])
    response._hidden_params = {**(getattr(response, "_hidden_params", None) or {}), **data["hidden"]}
    return response
