"""Reading the YAML itself: duplicate keys, alias bombs, binary and non-UTF-8 files each get one clear error."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from loomllm import ConfigError
from loomllm.config import load_config

MODELS = """model_list:
  - model_name: smart
    litellm_params: {model: openai/gpt-4o, api_key: sk-x}
"""


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "loomllm.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


DUPLICATES = [
    (MODELS + "loomllm:\n  agents:\n    a: {model: smart}\nloomllm:\n  agents:\n    b: {model: smart}\n",
     "loomllm: defined twice (lines 4 and 7)"),
    (MODELS + "loomllm:\n  agents:\n    a: {model: smart, budget: x}\n    a: {model: smart}\n",
     "loomllm.agents.a: defined twice (lines 6 and 7)"),
    (MODELS + "loomllm:\n  budgets:\n    policies:\n      daily: {limits: [{usd: 1, per: day}]}\n"
              "      daily: {limits: [{usd: 100, per: day}]}\n",
     "loomllm.budgets.policies.daily: defined twice (lines 7 and 8)"),
    (MODELS + "router_settings:\n  num_retries: 0\n  num_retries: 5\n", "router_settings.num_retries: defined twice"),
    (MODELS + "  - model_name: fast\n    litellm_params: {model: openai/gpt-4o-mini, api_key: a, api_key: b}\n",
     "model_list[1].litellm_params.api_key: defined twice"),
]


class TestDuplicateKeys:
    @pytest.mark.parametrize(("text", "expected"), DUPLICATES)
    def test_duplicate_is_an_error(self, tmp_path: Path, text: str, expected: str) -> None:
        """A key given twice (PyYAML would keep the last silently) names file, key path and both lines."""
        path = _write(tmp_path, text)
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)

    def test_merge_keys_may_be_overridden(self, tmp_path: Path) -> None:
        """`<<:` merges are YAML's way to override: an explicit key next to a merge is not a duplicate."""
        text = (
            "model_list:\n  - model_name: smart\n    litellm_params: &p {model: openai/gpt-4o, api_key: sk-x}\n"
            "  - model_name: slow\n    litellm_params:\n      <<: *p\n      model: openai/gpt-4o-mini\n")
        config = load_config(_write(tmp_path, text))
        assert "openai/gpt-4o-mini" == config.groups["slow"][0]["litellm_params"]["model"]

    def test_duplicate_inside_a_proxy_only_section_is_listed(self, tmp_path: Path) -> None:
        """Inside a section loomllm ignores anyway, a duplicate is reported with the ignored features."""
        path = _write(tmp_path, MODELS + "general_settings:\n  master_key: a\n  master_key: b\n")
        with pytest.warns(UserWarning, match=r"general_settings\.master_key: defined twice \(lines 5 and 6\)"):
            load_config(path)

    def test_duplicate_in_included_file_names_that_file(self, tmp_path: Path) -> None:
        """A duplicate inside an ``include:``d file names the included file."""
        (tmp_path / "models.yaml").write_text(MODELS + "  - model_name: x\n    litellm_params: {model: a, model: b}\n")
        path = _write(tmp_path, "include: [models.yaml]\n")
        with pytest.raises(ConfigError, match=r"models\.yaml: model_list\[1\]\.litellm_params\.model: defined twice"):
            load_config(path)


class TestHostileDocuments:
    def test_alias_bomb(self, tmp_path: Path) -> None:
        """A billion-laughs document is refused before it is expanded."""
        lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        for i, name in enumerate("bcdefghi"):
            prev = "abcdefghi"[i]
            lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
        lines.append("model_list: *i")
        with pytest.raises(ConfigError, match=r"aliases expand to more than 1,000,000 nodes"):
            load_config(_write(tmp_path, "\n".join(lines) + "\n"))

    def test_recursive_alias(self, tmp_path: Path) -> None:
        """An alias that contains itself is refused (it would expand forever)."""
        with pytest.raises(ConfigError, match=r"refers to the node that contains it"):
            load_config(_write(tmp_path, "general_settings: &g\n  again: *g\n"))

    def test_binary_file(self, tmp_path: Path) -> None:
        """A binary file (a .db, a .pyc passed by mistake) is one error, not a YAML parser trace."""
        with pytest.raises(ConfigError, match=r"loomllm\.yaml: not a text file \(it contains NUL bytes\)"):
            load_config(_write(tmp_path, b"SQLite format 3\x00\x10\x00\x01\x01"))

    def test_not_utf8(self, tmp_path: Path) -> None:
        """A Latin-1 file names the line and the byte."""
        data = (MODELS + "loomllm:\n  agents:\n    a: {model: smart, description: 'Caf\xe9'}\n").encode("latin-1")
        with pytest.raises(ConfigError, match=r"line 6: not valid UTF-8 \(byte 0xe9 at offset \d+\)"):
            load_config(_write(tmp_path, data))

    def test_utf8_bom_is_fine(self, tmp_path: Path) -> None:
        """Windows editors' byte-order mark is accepted."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            config = load_config(_write(tmp_path, b"\xef\xbb\xbf" + MODELS.encode()))
        assert ["smart"] == list(config.groups)

    def test_malformed_yaml_names_line(self, tmp_path: Path) -> None:
        """A syntax error names line and column."""
        with pytest.raises(ConfigError, match=r"line 3, column 1: malformed YAML"):
            load_config(_write(tmp_path, "model_list: [\n  {model_name: g\n"))
