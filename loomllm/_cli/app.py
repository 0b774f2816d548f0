"""The Typer application: global options, shared option types, error handling, and the command table."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from loomllm._cli.output import DEBUG, INFO, NORMAL, QUIET, Output

DEFAULT_CONFIG = "config/loomllm.yaml"

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="loomllm",
    help="A policy layer over LiteLLM: budgets, guardrails and an egress allowlist, configured in YAML.\n\n"
         "Start with `loomllm demo`, then `loomllm check --offline` and `loomllm chat --offline \"...\"`.",
    epilog="Exit codes: 0 ok, 1 problems found or call refused, 2 invalid config or usage, 130 interrupted.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,  # a traceback with locals could show a key
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
budget_app = typer.Typer(help="Show or reset budgets.", no_args_is_help=True)
app.add_typer(budget_app, name="budget")
metrics_app = typer.Typer(help="Serve Prometheus metrics.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", show_default=False, dir_okay=False,
                 help="Config file. Default: $LOOMLLM_CONFIG, else config/loomllm.yaml "
                      "(with --offline: config/offline.yaml)."),
]
OfflineOption = Annotated[
    bool,
    typer.Option("--offline", help="Start the local wire server (no network, no keys) and default to "
                                   "config/offline.yaml."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]


def _print_version(value: bool) -> None:
    if value:
        from loomllm import __version__

        typer.echo(f"loomllm {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print loomllm's version and exit.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, show_default=False,
                                         help="Log loomllm's events on stderr: -v info, -vv debug.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only answers, reports and errors.")] = False,
) -> None:
    level = QUIET if quiet else min(verbose, DEBUG) if verbose else NORMAL
    out = Output(level)
    out.install_warning_printer()
    _configure_logging(level)
    ctx.obj = out


def _configure_logging(level: int) -> None:
    import logging

    from loomllm._events import configure_logging

    configure_logging({QUIET: logging.ERROR, NORMAL: logging.WARNING, INFO: logging.INFO, DEBUG: logging.DEBUG}[level])
    # LiteLLM logs its own view of failures (which loomllm reports as typed errors) unless -vv.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.DEBUG if level >= DEBUG else logging.CRITICAL)


def output(ctx: typer.Context) -> Output:
    """The :class:`Output` the root callback made (a fresh one when a command runs on its own)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Output):
        root.obj = Output()
    return root.obj


def config_path(config: Path | None, *, offline: bool = False) -> Path:
    """``--config``, else the offline config with ``--offline``, else ``$LOOMLLM_CONFIG``, else the default."""
    if config is not None:
        return config
    if offline:
        from loomllm._demo import default_offline_config

        offline_config = default_offline_config()
        try:
            return offline_config.relative_to(Path.cwd())
        except ValueError:
            return offline_config
    return Path(os.environ.get("LOOMLLM_CONFIG") or DEFAULT_CONFIG)


@contextmanager
def maybe_offline(offline: bool) -> Iterator[None]:
    """Run the local wire server (and publish its URL) for the duration, when ``offline``."""
    if not offline:
        yield
        return
    from loomllm._demo import offline_server

    with offline_server():
        yield


def handles_errors(command: F) -> F:
    """Turn loomllm's errors into one ``error:`` line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from loomllm.errors import ConfigError, LoomError

        ctx = next((a for a in [*args, *kwargs.values()] if isinstance(a, typer.Context)), None)
        out = output(ctx) if ctx is not None else Output()
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            out.error(str(exc))
            raise typer.Exit(2) from None
        except LoomError as exc:
            out.error(f"{type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    from loomllm._cli import budget, chat, inspect, metrics, tools  # noqa: F401  (they register their commands)

    try:
        app(args=list(argv) if argv is not None else None, prog_name="loomllm", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
