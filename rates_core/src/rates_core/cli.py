"""The ``rates`` command line (also ``python -m rates_core``).

Each subcommand is one ``_add_<name>_command(subparsers)`` function that builds its parser and sets
``handler`` to a function ``(args) -> exit code``; add new ones to :data:`_COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rates_core.errors import RatesError

if TYPE_CHECKING:
    from rates_core.plugins import PluginHost

EXIT_CODES = """\
exit codes:
  0  success (broken plugins are reported but do not fail `rates plugins`)
  1  a rates error (bad model, unknown backend, plugin conflict, ...); the message is printed
  2  bad command line usage
"""

NO_PLUGIN_HINT = "pip install rates-numpy"


# --------------------------------------------------------------------------- rates plugins


def _add_plugins_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins, their backends and solvers, and broken plugins",
        description=(
            "List every installed rates plugin (distribution, version, entry point), the\n"
            "backends it provides with their capabilities and its solvers; then the plugins\n"
            "that failed to load, with the reason, and names claimed by several plugins."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show descriptions and tracebacks"
    )
    parser.set_defaults(handler=_plugins_command)


def _plugins_command(args: argparse.Namespace) -> int:
    from rates_core.plugins import RatesPluginWarning, default_host

    with warnings.catch_warnings():  # the report below lists broken plugins itself
        warnings.simplefilter("ignore", RatesPluginWarning)
        host = default_host()
    sys.stdout.write(format_plugin_report(host, verbose=args.verbose))
    return 0


def _caps(capabilities: frozenset[str]) -> str:
    return ", ".join(sorted(capabilities)) if capabilities else "-"


def format_plugin_report(host: PluginHost, verbose: bool = False) -> str:
    """The text ``rates plugins`` prints for ``host``."""
    lines: list[str] = []
    installed = set(host.backends())
    for conflict in host.conflicts():
        if conflict.kind == "backend":
            installed.add(conflict.name)
    if not host.plugins:
        lines += [
            "No rates plugins are installed. rates needs a backend plugin to generate and run",
            "models; install one, for example:",
            f"    {NO_PLUGIN_HINT}",
        ]
    else:
        lines.append(f"Installed rates plugins ({len(host.plugins)}):")
    for record in host.plugins:
        version = f" {record.version}" if record.version else ""
        lines += ["", f"{record.distribution or '(unknown distribution)'}{version}"]
        lines.append(f"  entry point: {record.name}")
        if not record.backends and not record.solvers:
            lines.append("  (no backends or solvers; may add builtins or imports)")
        if record.backends:
            lines.append("  backends:")
            for b in record.backends:
                lines.append(f"    {b.name:<16} capabilities: {_caps(b.capabilities)}")
                if verbose and b.description:
                    lines.append(f"    {'':<16} {b.description}")
        if record.solvers:
            lines.append("  solvers:")
            for s in record.solvers:
                step = "adaptive" if s.adaptive else "fixed step"
                missing = "" if s.backend in installed else " (backend not installed)"
                lines.append(
                    f"    {s.name:<16} backend: {s.backend}{missing}, {step}, "
                    f"capabilities: {_caps(s.capabilities)}"
                )
                if verbose and s.description:
                    lines.append(f"    {'':<16} {s.description}")
    conflicts = host.conflicts()
    if conflicts:
        lines += ["", "Conflicts (using these names raises PluginConflictError):"]
        for c in conflicts:
            lines.append(f"  {c.kind} {c.name!r} declared by: {', '.join(c.distributions)}")
        lines.append("  Uninstall all but one of the distributions claiming each name.")
    if host.broken:
        lines += ["", f"Broken plugins, not loaded ({len(host.broken)}):"]
        for b in host.broken:
            version = f" {b.version}" if b.version else ""
            lines.append(f"  {b.distribution or '(unknown distribution)'}{version}")
            lines.append(f"    entry point: {b.name}")
            reason = b.reason.replace("\n", "\n      ")
            lines.append(f"    reason: {reason}")
            if verbose and b.details:
                lines += ["      " + line for line in b.details.rstrip().splitlines()]
        if not verbose:
            lines.append("  (run `rates plugins --verbose` for tracebacks)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- rates conformance

CONFORMANCE_EXIT_CODES = """\
exit codes:
  0  every test of the suite passed or was skipped for an undeclared capability
  1  a test failed (or pytest is not installed)
  2  bad command line usage, or pytest could not run the suite
"""


def _add_conformance_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="run the conformance suite (rates_core.testing) against an installed backend",
        description=(
            "Run the conformance suite of rates_core.testing against an installed backend\n"
            "(in this process, with pytest) and print, per capability, how many tests passed,\n"
            "failed, were skipped (capability not declared) or failed as known. Needs pytest.\n"
            "The same as `pytest -p rates_core.testing --rates-backend NAME`."
        ),
        epilog=CONFORMANCE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", required=True, metavar="NAME", help="the backend to test")
    parser.add_argument(
        "--solver",
        action="append",
        default=[],
        metavar="NAME",
        help="test only this solver of the backend (repeat for several; default: all)",
    )
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k: select tests")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every test (pytest -v) and skip reasons"
    )
    parser.set_defaults(handler=_conformance_command)


def _conformance_command(args: argparse.Namespace) -> int:
    try:
        import pytest  # noqa: F401
    except ImportError:
        print("rates: error: rates conformance needs pytest: `pip install pytest`", file=sys.stderr)
        return 1
    from rates_core.testing.report import run_conformance

    pytest_args = ["-v", "-rfEs"] if args.verbose else ["-q", "-rfE"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.exitfirst:
        pytest_args.append("-x")
    return run_conformance(args.backend, args.solver, pytest_args)


# --------------------------------------------------------------------------- rates models

MODEL_PACKAGE = "rates_core.models"
SUMMARY_WIDTH = 90
_TEMPLATE_KINDS = {
    "OperatorTemplate": "operator",
    "NodeTemplate": "node",
    "EdgeTemplate": "edge",
    "CircuitTemplate": "circuit",
}


@dataclass(frozen=True)
class LibraryEntry:
    """One template of the model library (``rates_core.models.<file>.<template>``)."""

    file: str
    template: str
    kind: str  # operator, node, edge or circuit
    description: str

    @property
    def reference(self) -> str:
        return f"{MODEL_PACKAGE}.{self.file}.{self.template}"

    @property
    def summary(self) -> str:
        """The description shortened to one line of at most :data:`SUMMARY_WIDTH` characters."""
        return textwrap.shorten(self.description, SUMMARY_WIDTH, placeholder=" ...")


def _kind_of(data: dict, name: str, seen: tuple[str, ...] = ()) -> str:
    base = str(data[name].get("base", ""))
    if base in _TEMPLATE_KINDS:
        return _TEMPLATE_KINDS[base]
    if base in data and isinstance(data[base], dict) and base not in seen:
        return _kind_of(data, base, (*seen, name))
    from rates_core.frontend.loader import load_template  # a reference to another file

    return type(load_template(base)).__name__.replace("Template", "").lower()


def library_entries() -> list[LibraryEntry]:
    """Every template of the model library, sorted by file and in file order."""
    import yaml

    folder = Path(__file__).parent / "models"
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, body in data.items():
            if not isinstance(body, dict) or "base" not in body:
                continue  # e.g. an aliases list
            description = " ".join(str(body.get("description", "")).split())
            entries.append(LibraryEntry(path.stem, str(name), _kind_of(data, name), description))
    return entries


def _add_models_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the templates of the model library (rates_core.models)",
        description=(
            "List the templates shipped in rates_core.models: file, template, kind (operator,\n"
            "node, edge, circuit) and the description, shortened to a line. Load one with\n"
            "CircuitTemplate.from_yaml('rates_core.models.<file>.<template>')."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", nargs="?", help="list only this file of the library (e.g. qif)")
    parser.add_argument(
        "--kind",
        choices=sorted(_TEMPLATE_KINDS.values()),
        help="list only templates of this kind",
    )
    parser.set_defaults(handler=_models_command)


def _models_command(args: argparse.Namespace) -> int:
    entries = library_entries()
    if args.file:
        entries = [e for e in entries if e.file == args.file]
        if not entries:
            files = sorted({e.file for e in library_entries()})
            raise RatesError(f"no model file {args.file!r} (files: {', '.join(files)})")
    if args.kind:
        entries = [e for e in entries if e.kind == args.kind]
    sys.stdout.write(format_models(entries))
    return 0


def format_models(entries: Sequence[LibraryEntry]) -> str:
    """The table ``rates models`` prints."""
    if not entries:
        return "No templates.\n"
    wf = max(len("file"), *(len(e.file) for e in entries))
    wt = max(len("template"), *(len(e.template) for e in entries))
    wk = max(len("kind"), *(len(e.kind) for e in entries))
    lines = [f"{'file':<{wf}}  {'template':<{wt}}  {'kind':<{wk}}  description"]
    lines += [f"{e.file:<{wf}}  {e.template:<{wt}}  {e.kind:<{wk}}  {e.summary}" for e in entries]
    lines.append("")
    lines.append(f"{len(entries)} template(s); load one as {MODEL_PACKAGE}.<file>.<template>.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- rates export


def _add_export_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model's generated code for a backend (Julia, MATLAB, ...) to files",
        description=(
            "Generate the code of a circuit for BACKEND and write it to OUT, for use outside\n"
            "Python (for example a Julia file to include, or MATLAB .m files). MODEL is a\n"
            "template reference as CircuitTemplate.from_yaml takes it: a dotted path\n"
            "(rates_core.models.qif.qif), a file and template (model.yaml:Circuit or\n"
            "dir/model/Circuit). OUT is a file, or a directory for backends that write several."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="the circuit template to export")
    parser.add_argument("out", metavar="OUT", help="file or directory to write")
    parser.add_argument("--backend", required=True, help="backend that generates the code")
    parser.add_argument(
        "--no-vectorize", action="store_true", help="one population per node (scalar code)"
    )
    parser.add_argument(
        "--float-precision", default="float64", choices=("float64", "float32"), help="precision"
    )
    parser.add_argument(
        "--delay-approximation",
        type=int,
        metavar="N",
        help="replace every discrete delay by a gamma chain of order N (an ODE system)",
    )
    parser.set_defaults(handler=_export_command)


def _export_command(args: argparse.Namespace) -> int:
    from rates_core.export import export
    from rates_core.frontend import CircuitTemplate

    circuit = CircuitTemplate.from_yaml(args.model)
    written = export(
        circuit,
        args.backend,
        args.out,
        vectorize=not args.no_vectorize,
        float_precision=args.float_precision,
        delay_approximation=args.delay_approximation,
    )
    for path in written:
        print(path)
    return 0


# --------------------------------------------------------------------------- parser and main

_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_plugins_command,
    _add_conformance_command,
    _add_models_command,
    _add_export_command,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rates-core")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"rates-core {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rates`` with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="rates",
        description="rates: neural-mass and dynamical-system models from equations.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_command in _COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rates`` command line with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 2
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except RatesError as exc:
        print(f"rates: error: {exc}", file=sys.stderr)
        return 1
