"""loomllm's event log: the library configures nothing; configure_logging() renders to stderr; logging.file."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import loomllm
from loomllm._events import EventLog, event_log_file
from loomllm.config import parse_config


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as a fresh process has it (nothing configured), restored afterwards."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


class TestEventLog:
    def test_unconfigured_goes_to_stdlib_logging_not_stdout(self, unconfigured_structlog: None,
                                                            capsys: pytest.CaptureFixture[str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
        """With nothing configured, events go to the `loomllm` logging logger (warnings up); stdout stays empty."""
        log = EventLog()
        with caplog.at_level(logging.WARNING, logger="loomllm"):
            log.emit("llm.call", agent="planner", tokens_in=12)
            log.emit("budget.threshold", level="warning", agent="planner", used=0.8)
        assert "" == capsys.readouterr().out
        assert ["budget.threshold agent=planner used=0.8"] == [r.getMessage() for r in caplog.records]

    def test_policy_modules_do_not_print_either(self, unconfigured_structlog: None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
        """Guardrail, budget and telemetry log lines go through the same rule: never to stdout on their own."""
        from loomllm._events import LibraryLogger
        from loomllm._guardrails import GuardrailsConfig
        from loomllm._guardrails.guard import Guard

        guard = Guard.from_config(GuardrailsConfig(), "standard")
        guard.protect_input_sync([{"role": "user", "content": "mail jane.doe@acme-corp.com"}], guard.new_vault(),
                                 agent="a")
        LibraryLogger("loomllm.budget").warning("budget.threshold", agent="a")
        assert "" == capsys.readouterr().out

    def test_file_gets_every_event_as_json(self, tmp_path: Path, unconfigured_structlog: None) -> None:
        """logging.file receives one JSON line per event with a timestamp, whatever the level."""
        path = tmp_path / "logs" / "events.jsonl"
        seen: list[dict[str, object]] = []
        log = EventLog(seen.append, file=path)
        log.emit("llm.call", agent="critic", tokens_in=3, cost_usd=0.0001)
        log.emit("llm.attempt", level="debug", agent="critic")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [("llm.call", "info", "critic"), ("llm.attempt", "debug", "critic")] == [
            (e["event"], e["level"], e["agent"]) for e in lines]
        assert lines[0]["timestamp"].endswith("+00:00")
        assert 2 == len(seen)

    def test_file_path_is_relative_to_the_config(self, tmp_path: Path) -> None:
        """`logging.file: events.jsonl` lands next to the config file; unset means no file."""
        text = "loomllm:\n  logging: {file: events.jsonl}\n"
        assert tmp_path / "events.jsonl" == event_log_file(parse_config(text, source=tmp_path / "c.yaml"))
        assert event_log_file(parse_config("loomllm: {}\n", source=tmp_path / "c.yaml")) is None


class TestEnabled:
    """``EventLog.enabled``: whether an event at a level would reach anything (the audit's debug lines are skipped
    when it would not)."""

    def test_follows_a_filtering_structlog_logger(self, unconfigured_structlog: None) -> None:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                            logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
        log = EventLog()
        assert (False, True, True) == (log.enabled("debug"), log.enabled("info"), log.enabled("warning"))

    def test_a_structlog_logger_that_does_not_filter_gets_everything(self, unconfigured_structlog: None) -> None:
        structlog.configure(wrapper_class=structlog.BoundLogger,
                            logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
        assert EventLog().enabled("debug")

    def test_follows_stdlib_logging_when_structlog_is_not_configured(self, unconfigured_structlog: None,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
        log = EventLog()
        with caplog.at_level(logging.INFO, logger="loomllm"):
            assert (False, True) == (log.enabled("debug"), log.enabled("info"))
        with caplog.at_level(logging.DEBUG, logger="loomllm"):
            assert log.enabled("debug")

    @pytest.mark.parametrize("sink", ["file", "listener", "hook"])
    def test_a_file_listener_or_hook_takes_every_level(self, sink: str, tmp_path: Path,
                                                       unconfigured_structlog: None) -> None:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
                            logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
        seen: list[dict[str, object]] = []
        log = EventLog(seen.append if sink == "hook" else None, file=tmp_path / "e.jsonl" if sink == "file" else None)
        if sink == "listener":
            log.add_listener(seen.append)
        assert log.enabled("debug")

    def test_allowed_decisions_are_built_only_when_something_takes_them(self, unconfigured_structlog: None) -> None:
        """emit_allowed at an info-level app emits nothing; with a listener, every decision arrives."""
        from loomllm._telemetry import emit_allowed

        out = io.StringIO()
        structlog.configure(processors=[structlog.processors.JSONRenderer()],
                            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                            logger_factory=structlog.PrintLoggerFactory(out))
        log = EventLog()
        policies = (("parameter", "allowlisted"), ("budget", "within_limits"))
        emit_allowed(log, policies, agent="a", call_id="c1")
        assert "" == out.getvalue()
        seen: list[dict[str, object]] = []
        log.add_listener(seen.append)
        emit_allowed(log, policies, agent="a", call_id="c1")
        assert [("parameter", "allowed"), ("budget", "allowed")] == [(e["policy"], e["decision"]) for e in seen]
        assert "" == out.getvalue()  # still below the log's level


class TestConfigureLogging:
    def test_renders_json_on_the_given_stream(self, unconfigured_structlog: None) -> None:
        """`loomllm.configure_logging("info", format="json")` renders events as JSON lines, filtered by level."""
        stream = io.StringIO()
        loomllm.configure_logging("info", format="json", stream=stream)
        log = EventLog()
        log.emit("llm.call", agent="planner", tokens_in=12)
        log.emit("llm.attempt", level="debug", agent="planner")
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [("llm.call", "info", "planner", 12)] == [
            (e["event"], e["level"], e["agent"], e["tokens_in"]) for e in events]
