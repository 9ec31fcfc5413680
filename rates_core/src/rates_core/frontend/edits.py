"""Loud discarded edits: ``c.update_var(...)`` on a line of its own changes nothing.

Templates are values (an edit returns an edited copy), so PyRates's in-place style
``c.update_var(...)`` without ``c = ...`` silently simulates the unedited model. The edit
methods of :class:`~rates_core.frontend.templates.CircuitTemplate` are wrapped by
:func:`edit`, which looks at the calling line's bytecode: when the returned copy is dropped at
once (the call is an expression statement, its value popped), the call is remembered on the
template it was called on, and the next ``run`` / ``get_run_func`` / ``get_jacobian_func`` /
``grid_search`` of that template gives a :class:`~rates_core.errors.DiscardedEditWarning`
naming the call and its line.
"""

from __future__ import annotations

import dis
import functools
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from rates_core.errors import DiscardedEditWarning, warn_user

#: Opcodes that drop a call's result right after the call (an expression statement).
_DROPPING = frozenset({"POP_TOP"})


@functools.lru_cache(maxsize=512)
def _dropped_calls(code: CodeType) -> frozenset[int]:
    """Bytecode offsets of the call instructions in ``code`` whose result is dropped at once,
    with their inline caches (``f_lasti`` may point at the last cache entry of a call)."""
    instructions = list(dis.get_instructions(code))
    return frozenset(
        offset
        for ins, nxt in zip(instructions, instructions[1:])
        if ins.opname.startswith("CALL") and nxt.opname in _DROPPING
        for offset in range(ins.offset, nxt.offset, 2)
    )


def _discarded_at(frame: FrameType | None) -> str | None:
    """``"file:line"`` when the call being executed in ``frame`` drops its result, else None."""
    if frame is None:
        return None
    try:
        dropped = frame.f_lasti in _dropped_calls(frame.f_code)
    except (TypeError, ValueError):  # bytecode this Python's dis cannot read: stay quiet
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if dropped else None


def edit(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a template edit so that a copy thrown away by the caller is remembered."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        where = _discarded_at(sys._getframe(1))
        if where is not None:
            self.discarded_edits.append((method.__name__, where))
        return result

    return wrapper


def warn_discarded(template: Any, what: str) -> None:
    """Warn (once per discarded edit) before ``what`` simulates ``template`` unedited."""
    calls = getattr(template, "discarded_edits", None)
    if not calls:
        return
    listed = "; ".join(f"{method}(...) at {where}" for method, where in calls)
    method = calls[0][0]
    calls.clear()
    name = getattr(template, "name", "?")
    warn_user(
        f"{what} of template {name!r}: the edited copy returned by {listed} was discarded, so "
        f"the edit has no effect (templates are values: keep the copy, "
        f"`c = c.{method}(...)`)",
        DiscardedEditWarning,
    )
