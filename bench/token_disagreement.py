"""How many more input tokens each provider family counts than the tiktoken estimate a budget reserves.

A budget reserves ``token_counter(messages) x input_safety_factor[provider]`` before a call and
settles with the provider's usage; the factor must cover the provider's count or a hard limit can
overshoot. This measures, per document, ``provider tokens / LiteLLM's estimate`` with every provider
tokenizer that is available offline, on a corpus of prose, code and 68 languages:

- prose: new support tickets (bench/ticket_text.py), this README, package descriptions (English);
- code and data: Python (loomllm, the standard library), YAML, shell, JSON (LiteLLM's price map),
  JSON lines (the guardrail corpus);
- multilingual: spaCy's example sentences of every language it ships (one document per language).

Tokenizers (no network; the wheels come from PyPI with ``pip download``, nothing is installed):

- anthropic: the Claude tokenizer LiteLLM bundles (the Claude 1/2 one; Claude 3+ tokenizers are not
  public). The ``anthropic-tokenizer`` wheel embeds the same vocabulary (65,000 tokens, same counts).
- llama: Meta's Llama 3 (3.1-3.3) and Llama 4 ``tokenizer.model`` from the ``llama-models`` wheel.
- mistral: Tekken (Mistral NeMo, Large 2, Small 3, Pixtral and later) from the ``mistral-common``
  wheel. The older SentencePiece tokenizers (Mistral 7B, Mixtral) need ``sentencepiece``: not measured.
- openai: tiktoken's o200k_base and cl100k_base are OpenAI's own; only message framing differs.
- gemini (and vertex_ai): no tokenizer ships offline: not measured.

The estimate side is LiteLLM's ``token_counter`` as loomllm calls it (HF downloads off): o200k_base
for gpt-4o/4.1/o-series/gpt-5 names, cl100k_base for every other provider's model name. Chat
framing is added on both sides (LiteLLM: 3 per message + 3; Llama 3/4: 10; Tekken: 3; Claude: the
``Human:``/``Assistant:`` turn).

    pip download --no-deps -d /tmp/tok llama-models==0.3.0 mistral-common==1.13.1
    PYTHONPATH=. .venv/bin/python bench/token_disagreement.py --wheels /tmp/tok [--json]
"""

from __future__ import annotations

import argparse
import ast
import base64
import glob
import json
import math
import os
import random
import statistics
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ticket_text import make_ticket  # noqa: E402

CHUNK = 2000
"""Characters per document: about the size of one user message in a real app."""


@dataclass(frozen=True)
class Doc:
    kind: str
    label: str
    text: str


def _chunks(text: str, size: int = CHUNK) -> Iterator[str]:
    out: list[str] = []
    length = 0
    for line in text.splitlines(keepends=True):
        out.append(line)
        length += len(line)
        if length >= size:
            yield "".join(out)
            out, length = [], 0
    if length >= size // 4:
        yield "".join(out)


def _files(pattern: str, limit: int) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True))[:limit]


def corpus(seed: int = 7) -> list[Doc]:
    """Prose, code/data and multilingual documents of about CHUNK characters."""
    docs: list[Doc] = []
    rng = random.Random(seed)
    docs += [Doc("prose", f"ticket {i}", make_ticket(rng, CHUNK)) for i in range(60)]
    docs += [Doc("prose", "README.md", c) for c in _chunks((ROOT / "README.md").read_text())]
    site = Path(sysconfig.get_paths()["purelib"])
    for meta in _files(str(site / "*.dist-info/METADATA"), 400):
        body = meta.read_text(errors="replace").partition("\n\n")[2]
        if len(body) > CHUNK and body.isascii():
            docs += [Doc("prose", meta.parent.name, c) for c in list(_chunks(body))[:3]]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = [
        *_files(str(ROOT / "loomllm/**/*.py"), 80),
        *_files(str(stdlib / "asyncio/*.py"), 15),
        *_files(str(stdlib / "json/*.py"), 5),
        *_files(str(ROOT / "config/*.yaml"), 10),
        *_files(str(ROOT / "scripts/*"), 10),
        *_files(str(ROOT / "tests/guardrails/corpus/*.jsonl"), 5),
        *_files(str(site / "litellm/model_prices_and_context_window_backup.json"), 1),
    ]
    for path in code:
        for i, c in enumerate(_chunks(path.read_text(errors="replace"))):
            if i < 8:
                docs.append(Doc("code", f"{path.name}#{i}", c))
    for path in _files(str(site / "spacy/lang/*/examples.py"), 200):
        sentences = _literal_list(path.read_text(), "sentences")
        if sentences:
            docs.append(Doc("multilingual", path.parent.name, "\n".join(sentences)[: CHUNK * 2]))
    return docs


def _literal_list(source: str, name: str) -> list[str]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = ast.literal_eval(node.value)
            return [s for s in value if isinstance(s, str)]
    return []


# --- provider tokenizers ---------------------------------------------------------------------------


def _wheel_file(wheels: Path | None, package: str, member: str) -> bytes | None:
    """``member`` of an installed package, else of its wheel in ``wheels``."""
    import importlib.util

    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).parent / member
        if path.exists():
            return path.read_bytes()
    if wheels is not None:
        for wheel in sorted(wheels.glob(f"{package.replace('-', '_')}-*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                if member in archive.namelist():
                    return archive.read(member)
    return None


def _tiktoken_bpe(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA4_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def provider_tokenizers(wheels: Path | None) -> tuple[dict[str, tuple[str, Callable[[str], int]]], list[str]]:
    """``name -> (family, count of one user turn)`` for every tokenizer found, and what was not found."""
    import tiktoken
    import tokenizers

    found: dict[str, tuple[str, Callable[[str], int]]] = {}
    missing: list[str] = []
    site = Path(sysconfig.get_paths()["purelib"])
    bundled = site / "litellm/litellm_core_utils/tokenizers/anthropic_tokenizer.json"
    claude = tokenizers.Tokenizer.from_file(str(bundled))
    found["claude-1/2 (LiteLLM's)"] = ("anthropic", lambda t: len(claude.encode(f"\n\nHuman: {t}\n\nAssistant:").ids))
    for name, member, pattern in (("llama-3", "llama_models/llama3/tokenizer.model", LLAMA3_PATTERN),
                                  ("llama-4", "llama_models/llama4/tokenizer.model", LLAMA4_PATTERN)):
        data = _wheel_file(wheels, "llama-models", member)
        if data is None:
            missing.append(f"{name}: llama-models wheel not found")
            continue
        enc = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=_tiktoken_bpe(data), special_tokens={})
        found[name] = ("llama", lambda t, e=enc: len(e.encode_ordinary(t)) + 10)  # header/eot/assistant turn
    data = _wheel_file(wheels, "mistral-common", "mistral_common/data/tekken_240911.json")
    if data is None:
        missing.append("mistral tekken: mistral-common wheel not found")
    else:
        model = json.loads(data)
        inner = model["config"]["default_vocab_size"] - model["config"]["default_num_special_tokens"]
        ranks = {base64.b64decode(v["token_bytes"]): v["rank"] for v in model["vocab"][:inner]}
        pattern = model["config"]["pattern"]
        tekken = tiktoken.Encoding("tekken", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        found["mistral tekken"] = ("mistral", lambda t: len(tekken.encode_ordinary(t)) + 3)  # <s>[INST] [/INST]
    from litellm.litellm_core_utils.token_counter import _encoding_count, openai_tokenizer_encoding

    for name, model in (("openai o200k", "gpt-4o"), ("openai cl100k", "gpt-4")):  # the encodings LiteLLM ships
        enc_ = openai_tokenizer_encoding(model)
        found[name] = ("openai", lambda t, e=enc_: _encoding_count(e, t) + 7)
    missing.append("gemini / vertex_ai: no tokenizer ships offline")
    missing.append("mistral SentencePiece (7B, Mixtral): needs the sentencepiece package")
    return found, missing


# --- the estimate ---------------------------------------------------------------------------------


def estimators() -> dict[str, Callable[[str], int]]:
    """LiteLLM's ``token_counter`` as the budget estimate calls it, once per tiktoken encoding it picks."""
    from loomllm._litellm import litellm_module

    litellm = litellm_module()  # before any litellm import: the local cost map, no fetch
    from litellm.litellm_core_utils.token_counter import openai_tokenizer_encoding_name

    out: dict[str, Callable[[str], int]] = {}
    # A provider-prefixed name (how YAML names models) is not in LiteLLM's OpenAI list: cl100k_base, for every
    # provider. A bare OpenAI name picks its own encoding (o200k_base for gpt-4o and later).
    for model in ("openai/gpt-4o-mini", "gpt-4o-mini"):
        name = openai_tokenizer_encoding_name(model)
        out[f"{name} ({model})"] = lambda t, m=model: int(
            litellm.token_counter(model=m, messages=[{"role": "user", "content": t}])
        )
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, help="directory with the llama-models / mistral-common wheels")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    args = parser.parse_args()
    docs = corpus()
    counters = estimators()  # first: importing LiteLLM points tiktoken at its bundled encodings (offline)
    tokenizers_, missing = provider_tokenizers(args.wheels)
    estimates = {name: [count(d.text) for d in docs] for name, count in counters.items()}
    kinds = {k: sum(1 for d in docs if d.kind == k) for k in ("prose", "code", "multilingual")}
    results: list[dict[str, Any]] = []
    for name, (family, count) in tokenizers_.items():
        provider = [count(d.text) for d in docs]
        for estimate_name, estimate in estimates.items():
            ratios = [p / e for p, e in zip(provider, estimate, strict=True)]
            row: dict[str, Any] = {"family": family, "tokenizer": name, "estimate": estimate_name}
            for kind in (*kinds, "all"):
                picked = [(r, d) for r, d in zip(ratios, docs, strict=True) if kind in ("all", d.kind)]
                values = [r for r, _ in picked]
                worst = max(picked, key=lambda x: x[0])
                row[kind] = {"mean": statistics.fmean(values), "p99": _quantile(values, 0.99),
                             "max": worst[0], "worst": worst[1].label}
            results.append(row)
    if args.json:
        print(json.dumps({"documents": kinds, "results": results, "not_measured": missing}, indent=1))
        return
    chars = sum(len(d.text) for d in docs)
    print(f"{len(docs)} documents ({chars / 1e6:.2f} M characters): {kinds}")
    print("ratio = provider tokens / LiteLLM estimate, per document (mean / p99 / max)\n")
    print(f"{'family':<10}{'tokenizer':<24}{'estimate':<40}"
          + "".join(f"{k:>24}" for k in (*kinds, "all")) + "   worst document")
    for row in results:
        cells = "".join(f"{row[k]['mean']:>8.3f}{row[k]['p99']:>8.3f}{row[k]['max']:>8.3f}" for k in (*kinds, "all"))
        print(f"{row['family']:<10}{row['tokenizer']:<24}{row['estimate']:<40}{cells}   {row['all']['worst']}")
    print("\nnot measured: " + "; ".join(missing))
    if os.environ.get("TOKEN_DISAGREEMENT_WORST"):
        for row in results:
            print(row["tokenizer"], row["estimate"], {k: row[k]["worst"] for k in (*kinds, "all")})


if __name__ == "__main__":
    main()
