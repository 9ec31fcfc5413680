"""A small immutable, picklable mapping used inside template values."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only dict: templates hold these so nobody can edit a template in place."""

    __slots__ = ("_data",)
    _data: dict[K, V]

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMap is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __getstate__(self) -> dict[K, V]:
        return self._data

    def __setstate__(self, state: dict[K, V]) -> None:
        object.__setattr__(self, "_data", dict(state))

    def updated(self, other: Mapping[K, V]) -> FrozenMap[K, V]:
        """A new map with ``other``'s entries added or replacing this one's."""
        merged = dict(self._data)
        merged.update(other)
        return FrozenMap(merged)
