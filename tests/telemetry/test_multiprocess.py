"""Multiprocess mode: workers write metrics to PROMETHEUS_MULTIPROC_DIR, ``loomllm metrics serve`` sums them."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from loomllm.testing import WireServer

WORKER = """
import sys
from loomllm import Loom
with Loom(sys.argv[1]) as loom:
    agent = loom.agent("worker")
    agent.chat_sync("Reconcile the ledger entries for invoice 20931")
    agent.chat_sync("Flag any duplicate payments in batch 77")
"""


@pytest.mark.slow
def test_metrics_serve_sums_worker_processes(tmp_path: Path, wire_server: WireServer) -> None:
    """Two worker processes make two calls each; the served aggregate shows four, plus budget gauges."""
    config = tmp_path / "loomllm.yaml"
    config.write_text(f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test}}
loomllm:
  state: sqlite:///{tmp_path}/state.db
  agents: {{worker: {{model: smart, budget: daily}}}}
  budgets: {{policies: {{daily: {{limits: [{{tokens: 50000, per: day}}]}}}}}}
  telemetry: {{prometheus: {{enabled: true}}}}
""")
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(config)], env=env) for _ in range(2)]
    assert [0, 0] == [w.wait(timeout=120) for w in workers]
    server = subprocess.Popen([sys.executable, "-m", "loomllm.cli", "metrics", "serve", "--port", "0",
                               "--config", str(config)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        body = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)
    expected = 'llm_requests_total{agent="worker",model="gpt-4o-mini",provider="openai",status="ok"} 4.0'
    assert expected in body
    assert 'llm_budget_spent{limit="daily[0]"' in body
