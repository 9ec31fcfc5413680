"""What a template remembers of its last ``run()``: the final state (``initial_state="last"``).

Templates are frozen values; the final state of a run is kept beside them, in a table keyed by
the template object (circuit templates compare by identity: two equal templates are two
models) and held weakly, so an entry goes when its template does.
"""

from __future__ import annotations

import weakref
from typing import Any

_FINAL_STATES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def final_state(circuit: object) -> dict[str, Any]:
    """The final state of ``circuit``'s last run, ``path -> value`` (empty before any run)."""
    return _FINAL_STATES.get(circuit, {})


def remember_final_state(circuit: object, state: dict[str, Any]) -> None:
    """Keep ``state`` as the final state of ``circuit``'s last run."""
    _FINAL_STATES[circuit] = dict(state)


def forget_final_state(circuit: object) -> None:
    """Forget the final state of ``circuit``'s last run."""
    _FINAL_STATES.pop(circuit, None)
