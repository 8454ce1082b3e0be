"""Citations in the code point at documents in the repository, and at sections that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".toml", ".cfg", ".txt", ".html", ".j2")


def _files():
    for folder in ("src", "tests", "benchmarks", "docs"):
        for p in (ROOT / folder).rglob("*"):
            if p.is_file() and p.suffix in TEXT and "__pycache__" not in p.parts:
                yield p
    yield ROOT / "README.md"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_no_citation_of_documents_outside_the_repository():
    outside = re.compile(r"FACTS ?§|seed 00[04]\b|seed report")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in _files() if p.name != "test_docs.py"
            for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if outside.search(line)]
    assert hits == []


def test_cited_sections_of_references_exist():
    headings = {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", (ROOT / "docs" / "references.md").read_text(), re.M)}
    assert {"reports", "isp-data", "depth-data", "metrics", "scores", "runtime", "lowering"} <= headings
    cited = set()
    for p in _files():
        for m in re.finditer(r"references\.md#([\w-]+)((?:, ?#[\w-]+)*)", p.read_text(errors="replace")):
            cited.add(m.group(1))
            cited.update(re.findall(r"#([\w-]+)", m.group(2)))
    assert cited and cited <= headings, cited - headings
