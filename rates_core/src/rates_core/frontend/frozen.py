"""A small immutable, picklable mapping used inside template values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenMap(Mapping):
    """A read-only dict: templates hold these so nobody can edit a template in place."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | Any = ()) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMap is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __getstate__(self) -> dict:
        return self._data

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "_data", dict(state))

    def updated(self, other: Mapping) -> FrozenMap:
        """A new map with ``other``'s entries added or replacing this one's."""
        merged = dict(self._data)
        merged.update(other)
        return FrozenMap(merged)
