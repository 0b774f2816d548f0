"""Time to first token of ``loomllm chat --offline`` (a new process per run, as a user types it).

Usage: ``PYTHONPATH=$PWD .venv/bin/python bench/cli_ttft.py --runs 5 [--stdin-delay S] [-- chat args]``.
Prints, per run, the seconds until the first byte of the answer reaches stdout and until exit, in
wall-clock time and in CPU time of the process (``/proc``: user + system, which a busy machine
distorts far less). ``--stdin-delay S`` sends the prompt on stdin S seconds after start instead
of as an argument (someone typing), and reports the first token's delay after the prompt arrived.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPTS = [
    "Plan the migration of our billing service from cron jobs to a queue, in three steps.",
    "Plan a two-week onboarding for a new support engineer who starts on Monday.",
    "Plan the rollout of dark mode to 40,000 users across web and mobile.",
    "Plan a postmortem for the 37-minute checkout outage on 12 March.",
    "Plan how we retire the v1 API used by 214 customers without breaking them.",
]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(command: list[str], prompt: str | None, delay: float) -> tuple[float, float, float, float]:
    """Wall seconds to the first stdout byte (after the prompt was sent) and to exit; CPU seconds likewise."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy(),
                            stdin=subprocess.PIPE if prompt is not None else subprocess.DEVNULL)
    assert proc.stdout is not None
    if prompt is not None:
        assert proc.stdin is not None
        time.sleep(delay)
        proc.stdin.write(prompt.encode())
        proc.stdin.close()
        start = time.perf_counter()
    first = float("nan")
    first_cpu = float("nan")
    fd = proc.stdout.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            proc.kill()
            raise SystemExit("no output for 60 s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        if first != first and chunk.strip():
            first = time.perf_counter() - start
            first_cpu = _cpu_seconds(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"exit code {proc.returncode}: {' '.join(command)}")
    return first, time.perf_counter() - start, first_cpu, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stdin-delay", type=float, default=None, help="send the prompt on stdin after S seconds")
    parser.add_argument("extra", nargs="*", help="arguments after `loomllm chat --offline`")
    args = parser.parse_args()
    exe = os.path.join(os.path.dirname(sys.executable), "loomllm")
    exe = exe if os.path.exists(exe) else (shutil.which("loomllm") or "loomllm")
    results = []
    for i in range(args.runs):
        prompt = PROMPTS[i % len(PROMPTS)]
        on_stdin = args.stdin_delay is not None
        command = [exe, "chat", "--offline", *args.extra, *([] if on_stdin else [prompt])]
        results.append(one_run(command, prompt if on_stdin else None, args.stdin_delay or 0.0))
        first, total, first_cpu, cpu = results[-1]
        print(f"run {i + 1}: first token {first:.2f} s (cpu {first_cpu:.2f} s), exit {total:.2f} s (cpu {cpu:.2f} s)")
    med = [statistics.median(r[k] for r in results) for k in range(4)]
    print(f"median: first token {med[0]:.2f} s (cpu {med[2]:.2f} s), exit {med[1]:.2f} s (cpu {med[3]:.2f} s); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
