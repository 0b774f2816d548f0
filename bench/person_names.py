"""PERSON recall on names nobody wrote for this project: the contributors listed in pip's ``AUTHORS.txt``.

pip ships the list in its distribution (``pip-*.dist-info/licenses/AUTHORS.txt``), one name per line, from
many countries. Every line of two or three capitalised words is put in two sentences, one with a context word
before the name ("reviewed by") and one without, and scanned with the standard profile; a name counts as found
when a PERSON finding covers it (or more than half of it). ``-v`` lists the misses.

    .venv/bin/python bench/person_names.py [-v]
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from loomllm import scan_text

_NAME = re.compile(r"[A-ZÀ-Ž][\w'’.-]+(?: [A-ZÀ-Ž][\w'’.-]+){1,2}")
FRAMES = {"with a context word": "The change was reviewed by {} yesterday.", "without": "{} changed the parser."}


def authors() -> list[str]:
    """The two- and three-word names of pip's AUTHORS.txt."""
    files = [f for f in metadata.files("pip") or () if f.name == "AUTHORS.txt"]
    if not files:
        sys.exit("pip's AUTHORS.txt is not installed")
    lines = files[0].read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if _NAME.fullmatch(line.strip())]


def found(name: str, frame: str) -> bool:
    text = frame.format(name)
    start = text.index(name)
    for finding in scan_text(text, profile="standard"):
        if finding.entity_type != "PERSON":
            continue
        overlap = min(finding.end, start + len(name)) - max(finding.start, start)
        if overlap > len(name) / 2:
            return True
    return False


def main() -> None:
    names = authors()
    for label, frame in FRAMES.items():
        missed = [name for name in names if not found(name, frame)]
        print(f"{label:20} {len(names) - len(missed)}/{len(names)} = {1 - len(missed) / len(names):.3f}")
        if "-v" in sys.argv:
            print("  missed:", ", ".join(missed))


if __name__ == "__main__":
    main()
