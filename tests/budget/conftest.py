"""Fixtures for the budget tests: one store of each kind, a fake clock, an event recorder.

They live in budget_support.py, whose plain names (REDIS_URL, FakeClock...) tests import: a module
called ``conftest`` is ambiguous when several test folders have one.
"""

from budget_support import clock, events, redis_cluster, redis_prefix, store, valkey_cluster, valkey_server

__all__ = ["clock", "events", "redis_cluster", "redis_prefix", "store", "valkey_cluster", "valkey_server"]
