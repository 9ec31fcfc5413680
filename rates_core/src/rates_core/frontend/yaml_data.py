"""Reading a model file as plain, bounded data (docs/security.rst).

Safe YAML builds nothing but plain data, yet a small file can stand for a huge one: an alias
repeats a whole anchored subtree, so nested anchors ("billion laughs") describe exponentially
many nodes, and anything that walks the data (NumPy, ``repr`` in an error message) blows up.
:func:`read_yaml` composes the document, counts the nodes its aliases add (shared subtrees are
counted once per use, in time linear in the file) and constructs the data only when they are
within :data:`MAX_ALIAS_NODES`; recursive aliases and nesting deeper than :data:`MAX_DEPTH`
are errors as well. Otherwise it reads exactly what ``yaml.safe_load`` reads.
"""

from __future__ import annotations

from typing import Any

import yaml

from rates_core.errors import ModelError

MAX_ALIAS_NODES = 1_000_000
"""The most YAML nodes the aliases of one file may add to it (its own nodes are not counted)."""
MAX_DEPTH = 100
"""The deepest nesting of lists and mappings in a model file (PyYAML's parser slows down with
the square of the depth and recurses with it)."""


class _TooDeep(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops past :data:`MAX_DEPTH` nested nodes, both where it scans
    ``[`` / ``{`` (the scanner reads ahead through all of them) and where it composes."""

    def __init__(self, stream: bytes | str) -> None:
        super().__init__(stream)
        self.depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.depth >= MAX_DEPTH:
            raise _TooDeep
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_yaml(raw: bytes | str, file: str) -> Any:
    """The data of one YAML document, as ``yaml.safe_load`` reads it, or a :class:`ModelError`
    naming ``file`` for malformed YAML and for a document its aliases make too large."""
    loader = _BoundedLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        added = _alias_nodes(node, file)
        if added > MAX_ALIAS_NODES:
            raise ModelError(
                f"YAML aliases expand the file by {added} nodes, more than the "
                f"{MAX_ALIAS_NODES} allowed (anchors of anchors: a 'billion laughs' file?)",
                file=file,
            )
        return loader.construct_document(node)
    except ModelError:
        raise
    except yaml.YAMLError as exc:
        raise ModelError(f"malformed YAML: {exc}", file=file) from None
    except (_TooDeep, RecursionError):
        raise ModelError(
            f"malformed YAML: nested too deeply (more than {MAX_DEPTH} levels)", file=file
        ) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise ModelError(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()


def _alias_nodes(root: yaml.Node, file: str) -> int:
    """How many nodes the document has beyond its distinct ones, i.e. what aliases add."""
    sizes: dict[int, int] = {}  # id(node) -> size of its subtree with every alias expanded
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ModelError("a YAML alias refers to a node that contains it", file=file)
        open_nodes.add(key)
        total = 1
        for child in _children(node):
            total += size(child)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root) - len(sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []
