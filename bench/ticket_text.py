"""New, realistic support-ticket text for benchmarks: prose with numbers, ids, versions, log lines.

Every call returns a different text (random numbers, ids and sentence order), so no scan cache can help.
About one ticket in four carries a customer e-mail address or phone number, as real tickets do.
"""

from __future__ import annotations

import random

_OPENERS = [
    "Hi team, customer {company} reports that checkout fails intermittently since the {weekday} deploy.",
    "Escalated from tier 1: the nightly export for account {acct} stopped after release {version}.",
    "Following up on ticket #{ticket}: the dashboard still shows stale totals for region {region}.",
    "Customer says invoices {invoice} and {invoice2} were charged twice on {date}.",
    "Ops alert {alert} fired at {time} UTC: p99 latency on {service} went from {ms} ms to {ms2} ms.",
]
_BODY = [
    "Order {order} was placed at {time} and shows status PENDING_PAYMENT; the amount was ${amount}.",
    "They retried {n} times between {time} and {time2}; each attempt returned HTTP {status} after {ms} ms.",
    "Their integration runs client version {version} on {os}; we support {version2} and later.",
    "Logs from {host} show `{error}` roughly {n} times per minute, starting {date} {time}.",
    "The batch job processed {rows} rows in {secs} s ({pct}% of the usual throughput).",
    "CPU on {host} sat at {pct}% for {mins} minutes; memory {mem} MB of {mem2} MB.",
    "Refund of ${amount} for order {order} is approved; finance reference FIN-{ref}.",
    "The customer's plan is Business ({seats} seats, renewed {date}); they are on shard {shard}.",
    "Steps to reproduce: open /orders/{order}, change the quantity to {n}, press Save; the total becomes ${amount}.",
    "Affected SKUs: {sku}, {sku2} and {sku3}; warehouse {wh} shows {n} units but the API returns {n2}.",
    "Support call on {date} lasted {mins} minutes; the customer is on build {build} of the mobile app.",
    "We rolled back {service} to {version} at {time}; error rate dropped from {pct}% to {pct2}%.",
    "Trace id {trace} covers the failing request; span db.query took {ms} ms of {ms2} ms total.",
    "Container image tag {tag} was pulled {n} times; the digest matches the release notes for {version}.",
]
_PII = [
    "Customer contact: {email}.",
    "Please call the store manager back on {phone} before {time}.",
    "Reply to {email} once the fix is deployed; cc the account owner.",
]
_CLOSERS = [
    "Priority P{prio}; SLA breach in {hours} h. Thanks!",
    "Can someone from payments take a look today? Ticket {ticket}.",
    "Let me know if you need the HAR file or more log excerpts.",
]
_COMPANIES = ["Northwind Traders", "Contoso Retail", "Globex GmbH", "Initech", "Umbrella Health", "Acme Outdoor"]
_HOSTS = ["api-7.eu-west", "worker-12.us-east", "db-replica-3", "edge-44.ap-south", "batch-02.internal"]
_ERRORS = ["TimeoutError: read timed out", "ECONNRESET", "deadlock detected", "429 Too Many Requests", "OOMKilled"]
_SERVICES = ["checkout-svc", "billing-api", "search-gateway", "inventory-sync", "notifications"]
_OS = ["Android 14", "iOS 17.4", "Windows 11", "Ubuntu 22.04", "macOS 14.3"]
_FIRST = ["maria", "jonas", "li", "fatima", "tom", "ana", "kwame", "sofia"]
_DOMAINS = ["northwind.example.com", "contoso-retail.de", "globex.co.uk", "initech.io", "acme-outdoor.com"]


def _fields(rng: random.Random) -> dict[str, object]:
    def r(a: int, b: int) -> int:
        return rng.randint(a, b)

    return {
        "company": rng.choice(_COMPANIES),
        "weekday": rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        "acct": f"AC-{r(100000, 999999)}",
        "version": f"{r(1, 9)}.{r(0, 30)}.{r(0, 99)}",
        "version2": f"{r(1, 9)}.{r(0, 30)}",
        "ticket": r(10000, 99999),
        "region": rng.choice(["eu-west-1", "us-east-2", "ap-south-1"]),
        "invoice": f"INV-{r(2023, 2026)}-{r(10000, 99999)}",
        "invoice2": f"INV-{r(2023, 2026)}-{r(10000, 99999)}",
        "date": f"{r(2023, 2026)}-{r(1, 12):02d}-{r(1, 28):02d}",
        "time": f"{r(0, 23):02d}:{r(0, 59):02d}",
        "time2": f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}",
        "alert": f"ALRT-{r(1000, 9999)}",
        "service": rng.choice(_SERVICES),
        "ms": r(20, 900),
        "ms2": r(900, 9000),
        "order": f"{r(10_000_000, 99_999_999)}",
        "amount": f"{r(1, 9999):,}.{r(0, 99):02d}",
        "n": r(2, 500),
        "n2": r(2, 500),
        "status": rng.choice([500, 502, 503, 504, 429]),
        "os": rng.choice(_OS),
        "host": rng.choice(_HOSTS),
        "error": rng.choice(_ERRORS),
        "rows": f"{r(1000, 9_000_000):,}",
        "secs": r(5, 4000),
        "pct": round(rng.uniform(0.1, 99.9), 1),
        "pct2": round(rng.uniform(0.1, 9.9), 2),
        "mins": r(2, 180),
        "mem": r(256, 16000),
        "mem2": r(16000, 65536),
        "ref": r(100000, 999999),
        "seats": r(5, 900),
        "shard": r(1, 64),
        "sku": f"SKU-{r(10000, 99999)}",
        "sku2": f"SKU-{r(10000, 99999)}",
        "sku3": f"SKU-{r(10000, 99999)}",
        "wh": f"WH{r(1, 40):02d}",
        "build": f"{r(1000, 9999)}.{r(1, 99)}",
        "trace": f"{rng.getrandbits(128):032x}",
        "tag": f"v{r(1, 9)}.{r(0, 20)}.{r(0, 50)}-{rng.getrandbits(28):07x}",
        "prio": r(1, 4),
        "hours": r(1, 48),
        "email": f"{rng.choice(_FIRST)}.{rng.choice(_FIRST)}{r(1, 99)}@{rng.choice(_DOMAINS)}",
        "phone": f"+1 {r(201, 989)}-555-{r(100, 199):04d}",
    }


def make_ticket(rng: random.Random, size: int = 2048) -> str:
    """A new ticket of about ``size`` characters."""
    fields = _fields(rng)
    parts = [rng.choice(_OPENERS).format(**fields)]
    with_pii = rng.random() < 0.25
    while sum(len(p) + 1 for p in parts) < size - 120:
        fields = _fields(rng)
        if with_pii and rng.random() < 0.15:
            parts.append(rng.choice(_PII).format(**fields))
        else:
            parts.append(rng.choice(_BODY).format(**fields))
        if rng.random() < 0.2:
            parts.append("\n")
    parts.append(rng.choice(_CLOSERS).format(**_fields(rng)))
    return " ".join(parts)[: size + 200]
