"""``loomllm metrics serve``: a Prometheus endpoint for scripts (multiprocess aggregate, budget gauges)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from loomllm._cli.app import handles_errors, metrics_app, output


@metrics_app.command("serve")
@handles_errors
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 9464,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    config: Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False, show_default=False,
                                                help="Add budget gauges from this config's state store.")] = None,
) -> None:
    """Serve /metrics until interrupted."""
    from loomllm._telemetry.serve import serve_metrics

    server, _, loom = serve_metrics(port, host=host, config=str(config) if config else None)
    output(ctx).line(f"serving metrics on http://{host}:{server.server_port}/metrics")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        if loom is not None:
            loom.close()
