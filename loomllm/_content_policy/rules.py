"""The checks of an output content policy: deny rules, a user callable, a moderation model.

Each check returns the *names* of what matched (``words[2]``, ``patterns[0]``, a moderation
category, the callable's reasons), never the matched text.
"""

from __future__ import annotations

import importlib
import inspect
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .config import DenyRules, ModerationConfig

__all__ = ["DenyMatcher", "UserCheck", "load_callable", "moderation_categories"]

UserCheck = Callable[[str], Any]
"""``text -> None | bool | str | Iterable[str]`` (or an awaitable of one): what is wrong with the answer."""


class DenyMatcher:
    """Whole-word, case-insensitive deny words and regular expressions, over NFKC-normalised text."""

    def __init__(self, rules: DenyRules) -> None:
        self._words = [(f"words[{i}]", re.compile(rf"(?<!\w){_loose(w)}(?!\w)", re.IGNORECASE))
                       for i, w in enumerate(rules.words)]
        self._patterns = [(f"patterns[{i}]", re.compile(p)) for i, p in enumerate(rules.patterns)]
        self.longest_word = max((len(w) for w in rules.words), default=0)

    def __bool__(self) -> bool:
        return bool(self._words or self._patterns)

    def matches(self, text: str) -> list[str]:
        """Names of the rules ``text`` breaks."""
        normal = unicodedata.normalize("NFKC", text)
        found = [name for name, rx in self._words if rx.search(normal)]
        found += [name for name, rx in self._patterns if rx.search(normal) or rx.search(text)]
        return found


def _loose(word: str) -> str:
    """``word`` as a pattern where any run of whitespace matches any run of whitespace."""
    return r"\s+".join(re.escape(part) for part in unicodedata.normalize("NFKC", word).split())


def load_callable(ref: str) -> UserCheck:
    """Import ``module:function`` (a ConfigError-worthy ValueError if it is not there)."""
    module_name, _, attr = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
    if not callable(target):
        raise ValueError(f"{ref!r} is not callable")
    return target  # type: ignore[no-any-return]


async def run_user_check(check: UserCheck, text: str) -> list[str]:
    """The reasons ``check`` gives for ``text`` (empty: nothing wrong)."""
    result = check(text)
    if inspect.isawaitable(result):
        result = await _await(result)
    if result is None or result is False:
        return []
    if result is True:
        return ["callable"]
    if isinstance(result, str):
        return [result]
    if isinstance(result, Iterable):
        return [str(r) for r in result]
    return ["callable"]


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def moderation_categories(response: Any, config: ModerationConfig) -> list[str]:
    """The categories of a moderation response that count under ``config``."""
    found: set[str] = set()
    for result in _results(response):
        flags = _as_dict(_get(result, "categories"))
        scores = _as_dict(_get(result, "category_scores"))
        names = set(flags) | set(scores)
        if config.categories is not None:
            names &= set(config.categories)
        for name in names:
            score = scores.get(name)
            if config.threshold is not None and isinstance(score, int | float):
                hit = score >= config.threshold
            else:
                hit = bool(flags.get(name))
            if hit:
                found.add(name)
    return sorted(found)


def _results(response: Any) -> list[Any]:
    results = _get(response, "results")
    return list(results) if isinstance(results, list | tuple) else []


def _get(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(by_alias=True))
    return dict(vars(value))
