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

__all__ = ["DenyMatcher", "UnusableModerationAnswer", "UserCheck", "load_callable", "moderation_categories",
           "significant", "visible_offsets"]

UserCheck = Callable[[str], Any]
"""``text -> None | bool | str | Iterable[str]`` (or an awaitable of one): what is wrong with the answer."""


class UnusableModerationAnswer(ValueError):
    """The moderation model answered, but not with one result naming categories: nothing was checked."""


def significant(char: str) -> bool:
    """Whether ``char`` is visible text: not whitespace, not an invisible format character (category Cf)."""
    return not char.isspace() and unicodedata.category(char) != "Cf"


#: Characters other than printable ASCII and common whitespace: the only ones that can be format characters.
_UNUSUAL = re.compile(r"[^\t\n\r -~]")
#: Non-whitespace characters: visible unless they are format characters.
_NOT_SPACE = re.compile(r"\S")


def visible_offsets(text: str) -> list[int]:
    """Offsets of the characters of ``text`` a reader sees (see :func:`significant`)."""
    return [m.start() for m in _NOT_SPACE.finditer(text) if m.group() < "\x80" or significant(m.group())]


def _has_format_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cf" for c in set(_UNUSUAL.findall(text)))


def _readings(text: str) -> list[str]:
    """``text`` as a reader sees it: NFKC, and (if it holds any) without its invisible format characters
    (zero-width space, soft hyphen, word joiner...), removed and read as spaces."""
    normal = unicodedata.normalize("NFKC", text)
    if not _has_format_characters(normal):
        return [normal]
    removed = unicodedata.normalize("NFKC", "".join(c for c in normal if unicodedata.category(c) != "Cf"))
    spaced = unicodedata.normalize("NFKC", "".join(" " if unicodedata.category(c) == "Cf" else c for c in normal))
    return [normal, removed, spaced]


class DenyMatcher:
    """Whole-word, case-insensitive deny words and regular expressions, over NFKC-normalised text.

    Text is also read without invisible format characters, and with them as spaces: ``fu``, a
    zero-width space, ``nds`` reads as ``funds`` on screen.
    """

    def __init__(self, rules: DenyRules) -> None:
        self._words = [(f"words[{i}]", re.compile(rf"(?<!\w){_loose(w)}(?!\w)", re.IGNORECASE))
                       for i, w in enumerate(rules.words)]
        self._patterns = [(f"patterns[{i}]", re.compile(p)) for i, p in enumerate(rules.patterns)]
        self.longest_word = max((len(w) for w in rules.words), default=0)

    def __bool__(self) -> bool:
        return bool(self._words or self._patterns)

    def matches(self, text: str) -> list[str]:
        """Names of the rules ``text`` breaks."""
        readings = _readings(text)
        found = [name for name, rx in self._words if any(rx.search(r) for r in readings)]
        found += [name for name, rx in self._patterns if any(rx.search(r) for r in (*readings, text))]
        return found


def _loose(word: str) -> str:
    """``word`` as a pattern where any run of whitespace matches any run of whitespace."""
    visible = "".join(c for c in unicodedata.normalize("NFKC", word) if unicodedata.category(c) != "Cf")
    return r"\s+".join(re.escape(part) for part in visible.split())


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
    """The categories of a moderation response that count under ``config``.

    Raises :class:`UnusableModerationAnswer` unless the response holds exactly one result with
    categories or scores (one input was sent), and names at least one of the policy's categories if
    it lists some: an answer that names nothing checked nothing. A
    result's ``flagged`` counts (as ``flagged``) when the policy names no categories and sets no
    threshold, or when the result gives nothing else to go on.
    """
    results = _results(response)
    if len(results) != 1:
        raise UnusableModerationAnswer(f"{len(results)} results for one input")
    flags = _as_dict(_get(results[0], "categories"))
    scores = _as_dict(_get(results[0], "category_scores"))
    flagged = _get(results[0], "flagged") is True
    if not flags and not scores:
        if flagged and config.categories is None:
            return ["flagged"]
        raise UnusableModerationAnswer("a result without categories")
    if config.categories is not None and not set(config.categories) & (set(flags) | set(scores)):
        raise UnusableModerationAnswer("a result without any of the policy's categories")
    found = _counted(flags, scores, config)
    if not found and flagged and config.categories is None and config.threshold is None:
        return ["flagged"]
    return found


def _counted(flags: dict[str, Any], scores: dict[str, Any], config: ModerationConfig) -> list[str]:
    names = set(flags) | set(scores)
    if config.categories is not None:
        names &= set(config.categories)
    found: set[str] = set()
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
