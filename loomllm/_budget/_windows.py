"""Calendar windows (minute, hour, day, month) in a timezone, and ``lifetime``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Windows"]

LIFETIME = (float("-inf"), float("inf"))


def _midnight(day: datetime, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def window_bounds(per: str, now: float, tz: ZoneInfo) -> tuple[float, float]:
    """``(start, end)`` POSIX seconds of the ``per`` window holding ``now``. DST-aware for day and month."""
    if per == "lifetime":
        return LIFETIME
    local = datetime.fromtimestamp(now, tz)
    if per == "minute":
        start = local.replace(second=0, microsecond=0).timestamp()
        return start, start + 60
    if per == "hour":
        start = local.replace(minute=0, second=0, microsecond=0).timestamp()
        return start, start + 3600
    if per == "day":
        return _midnight(local, tz), _midnight(local + timedelta(days=1), tz)
    if per == "month":
        first = local.replace(day=1)
        following = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=tz)
        return _midnight(first, tz), following.timestamp()
    raise ValueError(f"unknown budget window {per!r}")


class Windows:
    """Window bounds with a one-entry cache per window kind (recomputed only when ``now`` leaves it)."""

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self._cache: dict[str, tuple[float, float]] = {}

    def bounds(self, per: str, now: float) -> tuple[float, float]:
        """``(start, end)`` of the ``per`` window holding ``now``."""
        cached = self._cache.get(per)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached
        bounds = window_bounds(per, now, self.tz)
        self._cache[per] = bounds
        return bounds
