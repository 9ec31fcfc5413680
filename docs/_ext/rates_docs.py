"""Sphinx directives that write tables from the installed rates, at build time.

``.. rates-backends::``   the backends the installed plugins declare (``register_backends``),
                          one column per capability of ``rates_core.plugins.CAPABILITIES``;
``.. rates-solvers::``    the solvers they declare (``register_solvers``);
``.. rates-functions::``  the equation functions of ``rates_core.builtins`` with their argument
                          counts, and the extra functions plugins register per backend.

Each table is written as reStructuredText and parsed in place, so it looks like a hand-written
one, but it can never fall out of date with the code.
"""

from __future__ import annotations

import warnings

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

#: Equation functions that map to sympy functions, with a short description each.
SYMPY_FUNCTIONS = {
    "sin": "sine",
    "cos": "cosine",
    "tan": "tangent",
    "sinh": "hyperbolic sine",
    "cosh": "hyperbolic cosine",
    "tanh": "hyperbolic tangent",
    "arcsin": "inverse sine",
    "arccos": "inverse cosine",
    "arctan": "inverse tangent",
    "exp": "exponential",
    "log": "natural logarithm",
    "sqrt": "square root",
    "abs": "absolute value (modulus of complex numbers)",
    "absv": "absolute value (PyRates's name)",
    "sign": "sign: -1, 0 or 1",
    "real": "real part",
    "imag": "imaginary part",
    "conj": "complex conjugate",
    "sigmoid": "logistic function 1 / (1 + exp(-x))",
}


def _host():
    from rates_core.plugins import RatesPluginWarning, default_host

    with warnings.catch_warnings():  # a broken plugin must not turn the build into an error
        warnings.simplefilter("ignore", RatesPluginWarning)
        return default_host()


def _table(header: list[str], rows: list[list[str]], widths: str | None = None) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"   * - {row[0] or ' '}")
        lines += [f"     - {cell or ' '}" for cell in row[1:]]
    return lines


class _RstDirective(SphinxDirective):
    has_content = False

    def rst_lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        text = StringList(self.rst_lines(), source=f"<{self.name}>")
        self.state.nested_parse(text, self.content_offset, container)
        return container.children


class BackendsDirective(_RstDirective):
    def rst_lines(self) -> list[str]:
        from rates_core.plugins import CAPABILITIES

        host = _host()
        backends = host.backends()
        capabilities = sorted(CAPABILITIES)
        if not backends:
            return ["*No backend plugin was installed when this page was built.*"]
        rows = []
        for name, (info, distribution) in sorted(backends.items()):
            marks = ["✓" if c in info.capabilities else "" for c in capabilities]
            rows.append([f"``{name}``", f"``{distribution or '?'}``", *marks])
        header = ["backend", "distribution", *(f"``{c}``" for c in capabilities)]
        lines = _table(header, rows)
        lines += ["", "Descriptions:", ""]
        for name, (info, _) in sorted(backends.items()):
            lines.append(f"- ``{name}``: {info.description or '(none)'}")
        return lines


class SolversDirective(_RstDirective):
    def rst_lines(self) -> list[str]:
        solvers = _host().solvers()
        if not solvers:
            return ["*No solver was installed when this page was built.*"]
        rows = []
        for name, (info, _) in sorted(solvers.items(), key=lambda kv: (kv[1][0].backend, kv[0])):
            step = "adaptive" if info.adaptive else "fixed step"
            caps = ", ".join(sorted(info.capabilities)) or "-"
            description = " ".join(info.description.split()) or "-"
            rows.append([f"``{name}``", f"``{info.backend}``", step, caps, description])
        return _table(["solver", "backend", "step", "capabilities", "description"], rows)


class FunctionsDirective(_RstDirective):
    def rst_lines(self) -> list[str]:
        from rates_core import builtins

        rows = []
        for name in sorted(builtins.CORE_FUNCTIONS):
            low, high = builtins.FUNCTION_ARITY[name]
            count = (
                str(low) if low == high else f"{low} or more" if high is None else f"{low}-{high}"
            )
            cls = builtins.RATES_FUNCTION_CLASSES.get(name)
            if cls is not None and cls.__doc__:
                description = cls.__doc__.strip().splitlines()[0]
            else:
                description = SYMPY_FUNCTIONS.get(name, "")
            rows.append([f"``{name}``", count, description])
        lines = _table(["function", "arguments", "meaning"], rows, widths="15 10 75")
        host = _host()
        extras = []
        for backend in sorted(host.backends()):
            try:
                names = sorted(host.builtins(backend))
            except Exception:  # noqa: BLE001 - a plugin conflict is not this page's business
                continue
            if names:
                extras.append(f"- ``{backend}``: " + ", ".join(f"``{n}``" for n in names))
        lines += [
            "",
            "Functions the installed plugins add (``register_builtins``), per backend:",
            "",
        ]
        lines += extras or ["- none of the installed plugins adds functions."]
        return lines


def setup(app):
    app.add_directive("rates-backends", BackendsDirective)
    app.add_directive("rates-solvers", SolversDirective)
    app.add_directive("rates-functions", FunctionsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
