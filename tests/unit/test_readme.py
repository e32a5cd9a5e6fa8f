"""The README stays honest: the commands it names exist, its links resolve, every doc page is linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def text() -> str:
    return README.read_text(encoding="utf-8")


def _code(text: str) -> str:
    """Fenced blocks and inline code spans: where a command would be written."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(fenced + inline)


def _registered() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_bondiff_command_named_in_the_readme_is_registered(text):
    named = set(re.findall(r"(?<![\w.-])bondiff ([a-z][a-z-]*)", _code(text)))
    assert named, "the README names no bondiff command"
    assert named <= _registered(), f"README names unknown commands: {sorted(named - _registered())}"


def test_every_registered_command_is_in_the_cli_table(text):
    rows = set(re.findall(r"^\| `bondiff ([a-z][a-z-]*)` \|", text, re.M))
    assert rows == _registered(), f"CLI table rows {sorted(rows)} vs registered {sorted(_registered())}"


def test_relative_links_resolve_and_anchors_exist(text):
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (ROOT / path).exists(), f"README links to missing {path}"
        elif anchor:
            assert anchor in anchors, f"README links to missing section #{anchor}"


def test_every_doc_page_is_linked(text):
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)\)", text))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages, "no docs/*.md found"
    assert pages <= linked, f"docs not linked from the README: {sorted(pages - linked)}"


def test_model_card_markers_once_and_in_order(text):
    start, end = "<!-- model-card:start -->", "<!-- model-card:end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    assert text.index(start) < text.index(end)
