"""Reading a YAML config safely: text only, no duplicate keys, bounded alias expansion.

PyYAML keeps the last of two equal keys without a word, so a second ``loomllm:`` section (or a
duplicated agent, policy or setting) silently replaces the first. An anchor referenced many times
can expand to billions of nodes ("billion laughs"). Both are refused here, before any value is
built, with the file, the key path and the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loomllm.errors import ConfigError

__all__ = ["MAX_EXPANDED_NODES", "DuplicateKey", "load_yaml_document", "read_config_text"]

MAX_EXPANDED_NODES = 1_000_000
"""Most nodes a document may expand to once aliases are followed (the 2 760-line configs use ~20 000)."""


# libyaml's parser when PyYAML was built with it (10x faster on the 2 760-line proxy configs).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DuplicateKey:
    """A key that occurs twice in one mapping: its key path and both lines (1-based)."""

    path: str
    first_line: int
    second_line: int


def read_config_text(source: Path) -> str:
    """The file's text; a ConfigError for unreadable, binary or non-UTF-8 files."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror or exc}", file=str(source)) from None
    return decode_config_bytes(data, str(source))


def decode_config_bytes(data: bytes, file: str) -> str:
    """Decode a config file's bytes as UTF-8 (a BOM is allowed), refusing binary content."""
    if b"\x00" in data:
        raise ConfigError("not a text file (it contains NUL bytes): a YAML config is UTF-8 text", file=file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8", file=file) from None


def load_yaml_document(text: str, file: str) -> tuple[Any, list[DuplicateKey]]:
    """Parse one YAML document; returns the data and every duplicate key found (for the caller to judge)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        _check_expansion(node, file)
        duplicates = list(_duplicates(node, "", set()))
        return loader.construct_document(node), duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{where}malformed YAML: {exc.problem or exc.context}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", file=file) from None
    except RecursionError:
        raise ConfigError("malformed YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse documents whose aliases expand past :data:`MAX_EXPANDED_NODES` or refer to themselves."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise ConfigError(f"line {node.start_mark.line + 1}: a YAML alias refers to the node that contains it",
                              file=file)
        visiting.add(key)
        total = 1 + sum(size(child) for child in _children(node))
        visiting.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"line {node.start_mark.line + 1}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} "
                "nodes (an alias bomb?); write the values out instead", file=file)
        sizes[key] = total
        return total

    size(root)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _duplicates(node: yaml.Node, path: str, done: set[int]) -> Iterator[DuplicateKey]:
    """Every explicit key occurring twice in one mapping (``<<`` merges may be overridden: that is YAML).

    A node reached again through an alias is not walked twice (``done``).
    """
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from _duplicates(child, f"{path}[{index}]", done)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.tag}>"
            child_path = f"{path}.{name}" if path else name
            line = key_node.start_mark.line + 1
            identity = (key_node.tag, name)
            if identity in seen:
                yield DuplicateKey(child_path, seen[identity], line)
            else:
                seen[identity] = line
            yield from _duplicates(value_node, child_path, done)
