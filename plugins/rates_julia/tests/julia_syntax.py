"""Julia syntax checks with tree-sitter-julia (no Julia needed): parse errors and node lookup."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest


@functools.lru_cache(maxsize=1)
def parser() -> Any:
    ts = pytest.importorskip("tree_sitter", reason="the syntax tests need tree-sitter")
    tsj = pytest.importorskip("tree_sitter_julia", reason="the syntax tests need tree-sitter-julia")
    return ts.Parser(ts.Language(tsj.language()))


def parse(source: str) -> Any:
    return parser().parse(source.encode("utf-8"))


def nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in node.children:
        yield from nodes(child)


def syntax_errors(source: str) -> list[str]:
    """Every ERROR or MISSING node of ``source``, with its line and the text there."""
    tree = parse(source)
    lines = source.splitlines()
    found = []
    for node in nodes(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            row = node.start_point[0]
            kind = "MISSING " + node.type if node.is_missing else "ERROR"
            found.append(f"{kind} at line {row + 1}: {lines[row] if row < len(lines) else ''}")
    return found


def assert_parses(source: str, what: str = "") -> Any:
    """Parse ``source``; fail with the first errors when tree-sitter-julia finds any."""
    errors = syntax_errors(source)
    assert not errors, f"{what}: Julia syntax errors:\n" + "\n".join(errors[:10])
    return parse(source)


def function_signatures(source: str) -> dict[str, str]:
    """Function name -> the text of its signature (``f!(dy, y, p, t)``), long-form functions."""
    out = {}
    for node in nodes(parse(source).root_node):
        if node.type == "function_definition":
            sig = next(c for c in node.children if c.type == "signature")
            text = sig.text.decode()
            out[text.split("(", 1)[0]] = text
    return out
