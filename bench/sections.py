"""Sections of docs/benchmarks.md that each benchmark script owns.

bench/peers.py writes the file's head (its tables); every other script replaces only its own
block, between ``<!-- section: NAME -->`` and ``<!-- /section: NAME -->``, appending it the
first time, so ``make bench`` can run them one after another into one file and a later run
of one script leaves the others' figures alone.
"""

from __future__ import annotations

import re
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section: {name} -->", f"<!-- /section: {name} -->"


def write_section(path: str | Path, name: str, text: str) -> None:
    """Put ``text`` into section ``name`` of the Markdown file at ``path``."""
    path = Path(path)
    start, end = _markers(name)
    block = f"{start}\n{text.rstrip()}\n{end}"
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = ""
    first, last = current.find(start), current.find(end)
    if first >= 0 and last > first:
        updated = current[:first] + block + current[last + len(end) :]
    else:
        updated = current.rstrip() + ("\n\n" if current.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def kept_sections(path: str | Path) -> str:
    """Every section block of the file at ``path``, in order ("" if none): what bench/peers.py
    carries over when it writes the file anew."""
    try:
        text = Path(path).read_text()
    except OSError:
        return ""
    blocks = re.findall(r"<!-- section: (.+?) -->.*?<!-- /section: \1 -->", text, flags=re.DOTALL)
    found = []
    for name in blocks:
        start, end = _markers(name)
        found.append(text[text.find(start) : text.find(end) + len(end)])
    return "\n\n".join(found) + ("\n" if found else "")
