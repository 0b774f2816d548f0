"""Time to first token of ``loomllm chat --offline`` (a new process per run, as a user types it).

Usage: ``PYTHONPATH=$PWD .venv/bin/python bench/cli_ttft.py --runs 3 [-- extra chat args]``.
Prints, per run, the seconds until the first byte of the answer reaches stdout and until exit.
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

PROMPTS = [
    "Plan the migration of our billing service from cron jobs to a queue, in three steps.",
    "Plan a two-week onboarding for a new support engineer who starts on Monday.",
    "Plan the rollout of dark mode to 40,000 users across web and mobile.",
    "Plan a postmortem for the 37-minute checkout outage on 12 March.",
    "Plan how we retire the v1 API used by 214 customers without breaking them.",
]


def one_run(command: list[str]) -> tuple[float, float]:
    """Seconds to the first stdout byte and to exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
    assert proc.stdout is not None
    first = float("nan")
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
    proc.wait()
    if proc.returncode:
        raise SystemExit(f"exit code {proc.returncode}: {' '.join(command)}")
    return first, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="arguments after `loomllm chat --offline`")
    args = parser.parse_args()
    exe = shutil.which("loomllm") or os.path.join(os.path.dirname(sys.executable), "loomllm")
    firsts, totals = [], []
    for i in range(args.runs):
        command = [exe, "chat", "--offline", *args.extra, PROMPTS[i % len(PROMPTS)]]
        first, total = one_run(command)
        firsts.append(first)
        totals.append(total)
        print(f"run {i + 1}: first token {first:.2f} s, exit {total:.2f} s")
    print(f"median: first token {statistics.median(firsts):.2f} s, exit {statistics.median(totals):.2f} s")


if __name__ == "__main__":
    main()
