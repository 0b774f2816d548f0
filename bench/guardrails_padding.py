"""Scan cost of 100 KB padded texts, and whether the e-mail address after the padding is found.

Run: ``PYTHONPATH=. .venv/bin/python bench/guardrails_padding.py [--rounds N] [--size CHARS]``. Each round builds
new padding per family (dates in prose, nginx log lines, CSV rows, attendee names, order ids), appends an e-mail
address and times one uncached scan with the standard profile. Prints the median ms per scan and how many rounds
found the address (the padding must hide none).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from loomllm._guardrails import Guard, GuardrailsConfig

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Sofia", "Ahmed", "Wei", "Priya", "Lucas", "Emma", "Noah", "Olivia"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Wilson", "Moore", "Taylor", "Anderson", "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson"]
PATHS = ["/", "/api/v1/items", "/login", "/static/app.js", "/metrics", "/api/v2/orders", "/health"]


def _date(rng: random.Random) -> str:
    return f"20{rng.randrange(18, 26)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


def _ip(rng: random.Random) -> str:
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


FAMILIES: dict[str, Callable[[random.Random], str]] = {
    "dates": lambda rng: f"The review moved from {_date(rng)} to {_date(rng)}.",
    "IP log lines": lambda rng: (
        f'{_ip(rng)} - - [17/May/2024:{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} '
        f'+0000] "GET {rng.choice(PATHS)} HTTP/1.1" {rng.choice([200, 200, 304, 404])} {rng.randrange(100, 90000)}'
        f' "-" "Mozilla/5.0"\n'
    ),
    "table rows": lambda rng: (
        f"{_date(rng)},ORD-{rng.randrange(10**5)},{rng.randrange(1, 9)},{rng.randrange(100, 9999) / 100:.2f},"
        f"{rng.choice(['shipped', 'pending', 'returned'])}\n"
    ),
    "names": lambda rng: f"{rng.choice(FIRST)} {rng.choice(LAST)},",
    "phone-like ids": lambda rng: f"order {rng.randrange(10**9, 10**10)} {rng.choice(['shipped', 'late', 'ok'])};",
}
EMAIL = "jane.doe@gmail.com"


def padded(family: str, size: int, rng: random.Random) -> str:
    """About ``size`` characters of ``family`` items, then an e-mail address."""
    make, out, length = FAMILIES[family], [], 0
    while length < size:
        item = make(rng)
        out.append(item)
        length += len(item) + 1
    return " ".join(out) + f" Please write to {EMAIL} about it."


def main() -> None:
    """Print ms per scan and found/rounds per family."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    guard = Guard.from_config(GuardrailsConfig(), "standard")
    guard.is_clean(f"warm up {EMAIL} 10.1.2.3 James Smith 2024-05-17")
    rng = random.Random(20261202)
    for family in FAMILIES:
        times, found = [], 0
        for _ in range(args.rounds):
            text = padded(family, args.size, rng)
            start = time.perf_counter()
            decisions = guard.decide(text, "input", message_index=0, agent="bench", cache=False)
            times.append((time.perf_counter() - start) * 1000)
            at = text.index(EMAIL)
            found += any(d.entity_type == "EMAIL_ADDRESS" and d.start <= at < d.end for d in decisions)
        print(f"{family:16} {statistics.median(times):8.0f} ms per scan  e-mail found {found}/{args.rounds}")


if __name__ == "__main__":
    main()
