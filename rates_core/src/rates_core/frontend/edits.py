"""Loud discarded edits: ``c.update_var(...)`` on a line of its own changes nothing.

Templates are values (an edit returns an edited copy), so PyRates's in-place style
``c.update_var(...)`` without ``c = ...`` silently simulates the unedited model. The edit
methods of :class:`~rates_core.frontend.templates.CircuitTemplate` are wrapped by
:func:`edit`, which looks at the calling line's bytecode. The returned copy counts as
discarded when

- the call is an expression statement: its value is popped, or only displayed (the last line
  of a REPL input or a notebook cell, which Python compiles to print the value);
- the copy is stored in a local variable of a function that never reads that variable;
- the copy is stored in a global variable of the script being run (``python script.py``,
  ``python -c``) that neither the script nor a function or class in it ever mentions.
  Imported modules and interactive sessions (where a later input may read it) are not
  judged.

The call is then remembered on the template it was called on, and the next ``run`` /
``get_run_func`` / ``get_jacobian_func`` / ``grid_search`` of that template gives a
:class:`~rates_core.errors.DiscardedEditWarning` naming the call and its line. Not detected:
the last edit of a chain (``c.update_var(...).add_edges(...)``, recorded on the intermediate
copy), a copy kept in a container or an attribute, or a variable read only through
``globals()`` / ``eval``.
"""

from __future__ import annotations

import dis
import functools
import sys
from collections.abc import Callable, Iterator
from types import CodeType, FrameType
from typing import Any

from rates_core.errors import DiscardedEditWarning, warn_user

#: Opcodes that drop a call's result right after the call (an expression statement), or
#: display and drop it (``PRINT_EXPR``: interactive input up to Python 3.11).
_DROPPING = frozenset({"POP_TOP", "PRINT_EXPR"})
#: Opcodes that store a call's result in a global variable at a module's top level.
_GLOBAL_STORES = frozenset({"STORE_NAME", "STORE_GLOBAL"})


def _drops(ins: dis.Instruction) -> bool:
    """``ins`` drops the value on top of the stack (Python 3.12+ displays interactive results
    with ``CALL_INTRINSIC_1 INTRINSIC_PRINT``)."""
    return ins.opname in _DROPPING or (
        ins.opname == "CALL_INTRINSIC_1" and "PRINT" in str(ins.argrepr)
    )


def _calls_then(code: CodeType) -> Iterator[tuple[range, dis.Instruction]]:
    """``(offsets of a call instruction with its inline caches, the instruction after it)``
    for every call in ``code`` (``f_lasti`` may point at the last cache entry of a call)."""
    instructions = list(dis.get_instructions(code))
    for ins, nxt in zip(instructions, instructions[1:]):
        if ins.opname.startswith("CALL") and not ins.opname.startswith("CALL_INTRINSIC"):
            yield range(ins.offset, nxt.offset, 2), nxt


def _mentions(code: CodeType, name: str, nested: bool) -> bool:
    """Whether an instruction of ``code`` (with ``nested`` also of the functions, classes and
    comprehensions defined in it) refers to ``name`` other than by storing it. Any mention (a
    load, an attribute or a constant of that name) counts: a doubt keeps quiet."""
    for ins in dis.get_instructions(code):
        if ins.opname.startswith("STORE_") and "LOAD" not in ins.opname:
            continue  # a pure store (3.13's STORE_FAST_LOAD_FAST also loads a name)
        value = ins.argval
        if value == name or (isinstance(value, tuple) and name in value):
            return True
    return nested and any(
        _mentions(const, name, True) for const in code.co_consts if isinstance(const, CodeType)
    )


@functools.lru_cache(maxsize=512)
def _dropped_calls(code: CodeType) -> dict[int, tuple[str, bool]]:
    """Bytecode offset of each call in ``code`` whose result is lost -> ``(variable, global)``:
    the variable it is stored in and never read (``""`` when dropped at once), and whether that
    is a module-level variable (lost only if ``code`` is a script's top level)."""
    found: dict[int, tuple[str, bool]] = {}
    for offsets, nxt in _calls_then(code):
        name = nxt.argval if isinstance(nxt.argval, str) else ""
        if _drops(nxt):
            lost = ("", False)
        elif nxt.opname == "STORE_FAST" and name not in code.co_cellvars:
            if _mentions(code, name, nested=False):
                continue
            lost = (name, False)
        elif nxt.opname in _GLOBAL_STORES and code.co_name == "<module>":
            if _mentions(code, name, nested=True):
                continue
            lost = (name, True)
        else:
            continue
        found.update(dict.fromkeys(offsets, lost))
    return found


def _is_script(frame: FrameType) -> bool:
    """``frame`` runs the top level of the program's ``__main__`` (``python script.py`` or
    ``python -c``) in a session that takes no further input."""
    if sys.flags.interactive or hasattr(sys, "ps1"):
        return False
    main = sys.modules.get("__main__")
    if main is None or frame.f_globals is not vars(main):
        return False
    filename = frame.f_code.co_filename
    return filename == "<string>" or filename == frame.f_globals.get("__file__")


def _discarded_at(frame: FrameType | None) -> str | None:
    """``"file:line"`` (and the variable that keeps the copy unread) when the call being
    executed in ``frame`` loses its result, else None."""
    if frame is None:
        return None
    try:
        lost = _dropped_calls(frame.f_code).get(frame.f_lasti)
    except (TypeError, ValueError):  # bytecode this Python's dis cannot read: stay quiet
        return None
    if lost is None or (lost[1] and not _is_script(frame)):
        return None
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return f"{where} (kept in {lost[0]!r}, which is never read)" if lost[0] else where


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
