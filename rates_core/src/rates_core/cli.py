"""The ``rates`` command line (also ``python -m rates_core``).

Each subcommand is one ``_add_<name>_command(subparsers)`` function that builds its parser and sets
``handler`` to a function ``(args) -> exit code``; add new ones to :data:`_COMMANDS`.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rates_core.errors import RatesError

if TYPE_CHECKING:
    from rates_core.frontend import CircuitTemplate, OperatorTemplate
    from rates_core.plugins import PluginHost

EXIT_CODES = """\
exit codes:
  0    success (broken plugins are reported but do not fail `rates plugins`)
  1    a rates error (bad model, unknown backend, plugin conflict, ...); the message is printed
  2    bad command line usage
  130  interrupted (Ctrl-C)
"""

NO_PLUGIN_HINT = "pip install rates-numpy"


# --------------------------------------------------------------------------- rates plugins


def _add_plugins_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins, their backends and solvers, and broken plugins",
        description=(
            "List every installed rates plugin (distribution, version, entry point), the\n"
            "backends it provides with their capabilities and solver methods (what\n"
            "run(solver=...) accepts), and its solvers; then the plugins\n"
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
    from rates_core.plugins.host import method_listing

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
                lines.append(f"    {'':<16} solver methods: {method_listing(host.methods(b.name))}")
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
        for broken in host.broken:
            version = f" {broken.version}" if broken.version else ""
            lines.append(f"  {broken.distribution or '(unknown distribution)'}{version}")
            lines.append(f"    entry point: {broken.name}")
            reason = broken.reason.replace("\n", "\n      ")
            lines.append(f"    reason: {reason}")
            if verbose and broken.details:
                lines += ["      " + line for line in broken.details.rstrip().splitlines()]
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
        help="test only this solver (or method) of the backend (repeat for several; default: all)",
    )
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k: select tests")
    parser.add_argument(
        "--fuzz",
        type=_positive_int,
        metavar="N",
        help="run only the model generator (test_generated_models) with N random models",
    )
    parser.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="S",
        help="seed of the random models (default 0; the same seed draws the same models)",
    )
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every test (pytest -v) and skip reasons"
    )
    parser.set_defaults(handler=_conformance_command)


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _conformance_command(args: argparse.Namespace) -> int:
    try:
        import pytest  # noqa: F401
    except ImportError:
        print("rates: error: rates conformance needs pytest: `pip install pytest`", file=sys.stderr)
        return 1
    from rates_core.testing.report import run_conformance

    pytest_args = ["-v", "-rfEs"] if args.verbose else ["-q", "-rfE"]
    keyword = args.keyword
    if args.fuzz is not None:
        pytest_args += ["--rates-fuzz", str(args.fuzz)]
        keyword = f"test_generated_models and ({keyword})" if keyword else "test_generated_models"
    if args.seed is not None:
        pytest_args += ["--rates-fuzz-seed", str(args.seed)]
    if keyword:
        pytest_args += ["-k", keyword]
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
    from rates_core.frontend.yaml_data import read_yaml

    folder = Path(__file__).parent / "models"
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        data = read_yaml(path.read_bytes(), file=str(path)) or {}
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

FORCE_HELP = (
    "replace existing output files (a symbolic link is replaced by a regular file, never "
    "written through; the model's own files are never replaced)"
)


def _add_export_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model's generated code for a backend (Julia, MATLAB, ...) to files",
        description=(
            "Generate the code of a circuit for BACKEND and write it to OUT, for use outside\n"
            "Python (for example a Julia file to include, or MATLAB .m files). MODEL is a\n"
            "template reference as CircuitTemplate.from_yaml takes it: a dotted path\n"
            "(rates_core.models.qif.qif), a file and template (model.yaml:Circuit or\n"
            "dir/model/Circuit). OUT is a file, or a directory for backends that write several.\n"
            "Existing files are replaced only with --force; the model's own files never, and\n"
            "symbolic links are never written through."
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
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
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
        overwrite=args.force,
    )
    for path in written:
        print(path)
    return 0


# --------------------------------------------------------------------------- models from the shell

MODEL_HELP = (
    "the circuit: a template reference as CircuitTemplate.from_yaml takes it (a dotted path\n"
    "such as rates_core.models.qif.qif, model.yaml:Circuit or dir/model/Circuit), or a YAML\n"
    "file holding exactly one circuit template"
)


def _yaml_file(reference: str) -> Path | None:
    """``reference`` as a path when it names an existing YAML file (without a template)."""
    path = Path(reference)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return path
    return None


def _templates_in_file(path: Path) -> dict[str, str]:
    """Template name -> base of every template of a YAML file (ModelError for bad YAML)."""
    from rates_core.errors import ModelError
    from rates_core.frontend.yaml_data import read_yaml

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file: {exc}", file=str(path)) from exc
    data = read_yaml(raw, file=str(path)) or {}
    if not isinstance(data, dict):
        raise ModelError("a model file must map template names to templates", file=str(path))
    return {
        str(name): str(body["base"])
        for name, body in data.items()
        if isinstance(body, dict) and "base" in body
    }


def _file_circuits(path: Path) -> list[str]:
    """The references ``file:Template`` of the circuit templates in a YAML file."""
    from rates_core.frontend import load_template

    circuits = []
    for name, base in _templates_in_file(path).items():
        if base == "CircuitTemplate":
            circuits.append(f"{path}:{name}")
        elif base not in _TEMPLATE_KINDS:  # inherits: ask the loader what it is
            try:
                if type(load_template(f"{path}:{name}")).__name__ == "CircuitTemplate":
                    circuits.append(f"{path}:{name}")
            except RatesError:
                continue
    return circuits


def load_circuit(reference: str) -> CircuitTemplate:
    """The circuit a command line MODEL names: a template reference, or a YAML file with exactly
    one circuit template (:class:`~rates_core.errors.ModelError` otherwise)."""
    from rates_core.errors import ModelError
    from rates_core.frontend import CircuitTemplate

    path = _yaml_file(reference)
    if path is not None:
        circuits = _file_circuits(path)
        if len(circuits) != 1:
            names = ", ".join(c.rsplit(":", 1)[1] for c in circuits) or "none"
            raise ModelError(
                f"the file holds {len(circuits)} circuit templates ({names}); name one as "
                f"{path}:NAME",
                file=str(path),
            )
        reference = circuits[0]
    return CircuitTemplate.from_yaml(reference)


# --------------------------------------------------------------------------- rates run

RUN_EXIT_CODES = """\
exit codes:
  0    the simulation ran and every requested file was written
  1    a rates error: the model does not load or build (the message names the file, template
       and variable), unknown backend or solver, bad input file, missing optional package
       (tqdm, matplotlib), a file that cannot be read or written
  2    bad command line usage (missing --time/--step, malformed NAME=PATH)
  130  interrupted (Ctrl-C)
"""


def _add_run_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="simulate a model and write the results as CSV and/or a plot",
        description=(
            "Simulate MODEL for --time model time units with steps of --step and print a\n"
            "summary of the recorded variables (or write them with --csv / --plot).\n\n"
            "Examples:\n"
            "  rates run rates_core.models.qif.qif --time 40 --step 1e-3 --csv qif.csv\n"
            "  rates run rates_core.models.jansenrit.JRC --time 2 --step 1e-4 --solver heun \\\n"
            "      --sampling 1e-3 --input pc/syn_exc_ext/u=noise.csv \\\n"
            "      --output psp=pc/rate_out/v --plot jrc.png\n\n"
            "Input files (--input PATH=FILE): CSV with one row per step (row k drives the step\n"
            "from k*dt) and one column, or one column per node PATH matches. A header row is\n"
            "optional; when the first column is named 'time' or 't', the other columns are\n"
            "values at those times, interpolated linearly onto the steps.\n\n"
            "A progress bar is shown on a terminal when tqdm is installed (--progress forces\n"
            "it, --no-progress hides it).\n\n"
            "Existing --csv / --plot files are replaced only with --force; the model and input\n"
            "files never, and symbolic links are never written through."
        ),
        epilog=RUN_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument(
        "--time", "-T", type=float, required=True, metavar="T", help="simulation time"
    )
    parser.add_argument("--step", "--dt", type=float, required=True, metavar="DT", help="step size")
    parser.add_argument(
        "--solver",
        default="euler",
        help="solver method of the backend, e.g. euler, rk4, dopri5 (default: euler)",
    )
    parser.add_argument("--backend", default="numpy", help="backend name (default: numpy)")
    parser.add_argument(
        "--delays",
        default="exact",
        metavar="{exact,grid}",  # checked by run(), which names the allowed values
        help="exact: interpolate the history at t - tau (default); grid: round every delay to "
        "whole steps and hold the delayed values over each step, as TVB does (fixed-step "
        "solvers only)",
    )
    parser.add_argument(
        "--sampling", type=float, metavar="DT", help="time between output rows (default: --step)"
    )
    parser.add_argument(
        "--cutoff", type=float, default=0.0, metavar="T", help="drop rows before this time"
    )
    parser.add_argument(
        "--output",
        "-o",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="record node/op/var as column NAME (repeat; default: every state variable)",
    )
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="PATH=FILE",
        help="drive the input variable node/op/var with a CSV file (repeat)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="assignments",
        metavar="PATH=VALUE",
        help="set node/op/var to VALUE before the run (a number, or a,b,c for several nodes)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="solver option (repeat), e.g. --option method=DOP853 --option rtol=1e-8",
    )
    parser.add_argument("--seed", type=int, help="seed of randn() noise")
    parser.add_argument(
        "--float-precision", default="float64", choices=("float64", "float32"), help="precision"
    )
    parser.add_argument("--csv", metavar="FILE", help="write the results to FILE ('-': stdout)")
    parser.add_argument(
        "--plot", metavar="FILE", help="plot the outputs to FILE (.png, .pdf, .svg)"
    )
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="progress bar"
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print no summary (only errors)")
    parser.set_defaults(handler=_run_command)


def _pairs(parser_values: Sequence[str], what: str) -> list[tuple[str, str]]:
    """``NAME=VALUE`` strings split at the first ``=`` (a usage error otherwise)."""
    pairs = []
    for text in parser_values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise _UsageError(f"{what} must be NAME=VALUE, got {text!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


class _UsageError(Exception):
    """A malformed argument value: reported like argparse's usage errors (exit code 2)."""


def parse_value(text: str) -> object:
    """A command line value: bool, int, float, complex, a comma-separated list of numbers, or
    the text itself. Never evaluated as code."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "," in text:
        items = [parse_value(t) for t in text.split(",") if t.strip()]
        if all(isinstance(i, (int, float, complex)) and not isinstance(i, bool) for i in items):
            return items
        return text
    for kind in (int, float, complex):
        try:
            return kind(text.strip())
        except ValueError:
            continue
    return text


def read_input_file(path: str, variable: str, n_steps: int, step: float) -> object:
    """The rows of an input CSV file for ``run(inputs=...)``: one row per step.

    A header row is optional; a first column named ``time`` or ``t`` gives the times of the
    rows, which are then interpolated linearly onto the step grid ``k * step``.
    """
    import numpy as np
    import pandas as pd

    from rates_core.errors import ModelError

    def fail(message: str) -> ModelError:
        return ModelError(f"input file {path!r}: {message}", file=path, variable=variable)

    try:
        frame = pd.read_csv(path, header=None, comment="#", skipinitialspace=True)
    except FileNotFoundError:
        raise fail("no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise fail(f"cannot read it: {exc}") from exc
    except pd.errors.EmptyDataError:
        raise fail("the file is empty") from None
    first = frame.iloc[0]
    if pd.to_numeric(first, errors="coerce").isna().any():  # a header row
        header = [str(h).strip().lower() for h in first]
        frame = frame.iloc[1:].reset_index(drop=True)
    else:
        header = []
    try:
        values = frame.apply(pd.to_numeric).to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise fail(f"every value must be a number ({exc})") from None
    if values.size == 0:
        raise fail("the file has no rows")
    if header and header[0] in ("time", "t"):
        if values.shape[1] < 2:
            raise fail("a 'time' column needs at least one value column beside it")
        times, columns = values[:, 0], values[:, 1:]
        if np.any(np.diff(times) <= 0):
            raise fail("the times must increase")
        grid = np.arange(n_steps) * step
        rows = np.column_stack([np.interp(grid, times, c) for c in columns.T])
    else:
        rows = values
        if rows.shape[0] != n_steps:
            raise fail(
                f"{rows.shape[0]} rows, but the run has {n_steps} steps (time / step): give one "
                "row per step, or a 'time' column to interpolate from"
            )
    return rows[:, 0] if rows.shape[1] == 1 else rows


def _use_progress(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    from rates_core.backend import have_tqdm

    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return interactive and have_tqdm()


def _run_command(args: argparse.Namespace) -> int:
    from rates_core.outputs import check_file, model_files, write_file

    try:
        outputs = dict(_pairs(args.output, "--output"))
        inputs = _pairs(args.input, "--input")
        assignments = {k: parse_value(v) for k, v in _pairs(args.assignments, "--set")}
        options = {k: parse_value(v) for k, v in _pairs(args.option, "--option")}
    except _UsageError as exc:
        print(f"rates run: error: {exc}", file=sys.stderr)
        return 2
    if not (args.time > 0 and args.step > 0):  # NaN fails this too
        print("rates run: error: --time and --step must be positive", file=sys.stderr)
        return 2
    times = {"--time": args.time, "--step": args.step, "--cutoff": args.cutoff}
    times["--sampling"] = args.sampling if args.sampling is not None else args.step
    infinite = [name for name, value in times.items() if not math.isfinite(value)]
    if infinite:
        print(f"rates run: error: {', '.join(infinite)} must be finite", file=sys.stderr)
        return 2
    if args.plot:
        from rates_core.plot import pyplot

        pyplot()  # fail before simulating when matplotlib is missing
    if args.seed is not None:
        options["seed"] = args.seed
    circuit = load_circuit(args.model)
    protect = (*model_files(circuit), *(file for _, file in inputs))
    for target in (args.csv, args.plot):
        if target and target != "-":
            check_file(target, overwrite=args.force, protect=protect)  # before simulating
    if assignments:
        circuit = circuit.update_var(node_vars=assignments)
    n_steps = int(round(args.time / args.step))
    input_rows = {path: read_input_file(file, path, n_steps, args.step) for path, file in inputs}
    df = circuit.run(
        simulation_time=args.time,
        step_size=args.step,
        inputs=input_rows or None,
        outputs=outputs or None,
        sampling_step_size=args.sampling,
        cutoff=args.cutoff,
        solver=args.solver,
        backend=args.backend,
        float_precision=args.float_precision,
        progress=_use_progress(args.progress),
        delays=args.delays,
        **options,
    )
    from rates_core.results import flat_columns, summary

    if args.csv:
        table = flat_columns(df)
        if args.csv == "-":
            table.to_csv(sys.stdout)
        else:
            write_file(args.csv, table.to_csv(), overwrite=args.force, protect=protect)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")  # a file, never a window
        from rates_core.plot import save, timeseries

        save(timeseries(df), args.plot, overwrite=args.force, protect=protect)
    if not args.quiet:
        out = sys.stderr if args.csv == "-" else sys.stdout
        out.write(summary(df))
        for path in (args.csv, args.plot):
            if path and path != "-":
                print(f"wrote {path}", file=out)
    return 0


# --------------------------------------------------------------------------- rates validate

VALIDATE_EXIT_CODES = """\
exit codes:
  0  no errors (warnings may be printed)
  1  at least one error was found; each is printed with its file, template and variable
  2  bad command line usage
"""


@dataclass(frozen=True)
class Finding:
    """One finding of ``rates validate``."""

    severity: str  # "error" or "warning"
    where: str  # the template reference or file it concerns
    message: str


def _operators_of(template: object, seen: set[int]) -> list[OperatorTemplate]:
    """Every operator template used by a template (circuits, nodes, populations, edges)."""
    from rates_core.frontend import CircuitTemplate, OperatorTemplate, PopulationTemplate

    if id(template) in seen:
        return []
    seen.add(id(template))
    if isinstance(template, OperatorTemplate):
        return [template]
    if isinstance(template, PopulationTemplate):
        return _operators_of(template.node, seen)
    ops: list[OperatorTemplate] = []
    if isinstance(template, CircuitTemplate):
        children: list[object] = [*template.nodes.values(), *template.circuits.values()]
        children += list(template.populations.values())
        children += [e.template for e in template.edges if e.template is not None]
        children += [
            c.template for c in template.connections if getattr(c, "template", None) is not None
        ]
        for child in children:
            ops += _operators_of(child, seen)
        return ops
    for op in getattr(template, "operators", {}).values():
        ops += _operators_of(op, seen)
    return ops


def _equation_problems(template: object, functions: dict) -> list[str]:
    """The parse error of every equation of every operator that fails to parse."""
    from rates_core.equations import parse_equation

    messages = []
    for op in _operators_of(template, set()):
        dtypes = {
            v: ("complex" if d.dtype == "complex" else "float") for v, d in op.variables.items()
        }
        for text in op.equations:
            try:
                parse_equation(
                    text, dtypes, functions=functions, file=op.path or None, template=op.name
                )
            except RatesError as exc:
                messages.append(str(exc))
    return messages


def validate_reference(
    reference: str, backend: str | None = None, float_precision: str = "float64"
) -> tuple[list[Finding], list[str]]:
    """Load a template, parse every equation and (for circuits) build the System, and with a
    backend emit its code. Returns the problems found and lines describing what was checked.

    Collects as many problems as it can: every equation that does not parse is reported, not
    only the first; the System is built only when the equations parse.
    """
    from rates_core import builtins
    from rates_core.frontend import CircuitTemplate, load_template
    from rates_core.plugins import RatesPluginWarning, default_host

    problems: list[Finding] = []
    notes: list[str] = []

    def error(message: str) -> None:
        if all(p.message != message for p in problems):
            problems.append(Finding("error", reference, message))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            template = load_template(reference)
        except RatesError as exc:
            error(str(exc))
            template = None
        host = default_host()
        if backend is not None:
            try:
                host.backend_info(backend)
                extra = set(host.builtins(backend))
            except RatesError as exc:
                error(str(exc))
                backend, extra = None, set()
        else:  # any function a plugin registers for an installed backend parses
            extra = set()
            for name in host.backends():
                try:
                    extra |= set(host.builtins(name))
                except RatesError:
                    continue
        functions = builtins.function_table(sorted(extra))
        equation_errors = [] if template is None else _equation_problems(template, functions)
        for message in equation_errors:
            error(message)
        if isinstance(template, CircuitTemplate):
            # built even when equations failed: edge and wiring problems show up too (an
            # equation error raised again by the build is reported once)
            notes += _check_circuit(template, backend, float_precision, functions, error)
        elif template is not None and not equation_errors:
            kind = type(template).__name__
            notes.append(f"{kind} {template.name!r}: loaded, every equation parses")
    for w in caught:
        if issubclass(w.category, RatesPluginWarning):
            continue  # broken plugins: `rates plugins` reports them
        problems.append(Finding("warning", reference, f"{w.category.__name__}: {w.message}"))
    return problems, notes


def _check_circuit(
    circuit: CircuitTemplate,
    backend: str | None,
    float_precision: str,
    functions: dict,
    error: Callable[[str], None],
) -> list[str]:
    from rates_core.system import build_system

    try:
        system = build_system(circuit, float_precision=float_precision, functions=functions)
    except RatesError as exc:
        error(str(exc))
        return []
    delays = f", {len(system.delayed)} delayed reads" if system.delayed else ""
    notes = [
        f"CircuitTemplate {circuit.name!r}: System built: {system.n_states} states, "
        f"{len(system.params)} parameters, {len(system.algebraic)} algebraic variables{delays}"
    ]
    if backend is not None:
        from rates_core.backend import EmitOptions
        from rates_core.plugins import default_host

        try:
            default_host().emit_function(
                backend, system, EmitOptions(float_precision=float_precision)
            )
        except RatesError as exc:
            error(f"backend {backend!r} cannot generate the code: {exc}")
        else:
            notes.append(f"backend {backend!r}: code generated")
    return notes


def _add_validate_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check that a model loads, its equations parse and its System builds",
        description=(
            "Load MODEL, parse every equation of every operator it uses and, for circuits,\n"
            "build the System (flattening, vectorisation, delays); with --backend also\n"
            "generate that backend's code. Every problem found is printed with its file,\n"
            "template and variable. MODEL is a template reference (rates_core.models.qif.qif,\n"
            "model.yaml:Circuit) or a YAML file: then every template of the file is checked."
        ),
        epilog=VALIDATE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="template references or files")
    parser.add_argument("--backend", help="also generate the code of this backend")
    parser.add_argument(
        "--float-precision", default="float64", choices=("float64", "float32"), help="precision"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    parser.set_defaults(handler=_validate_command)


def _validate_command(args: argparse.Namespace) -> int:
    references: list[str] = []
    problems: list[Finding] = []
    for model in args.models:
        path = _yaml_file(model)
        if path is None:
            references.append(model)
            continue
        try:
            names = _templates_in_file(path)
        except RatesError as exc:
            problems.append(Finding("error", str(path), str(exc)))
            continue
        if not names:
            problems.append(Finding("error", str(path), f"no templates in {str(path)!r}"))
        references += [f"{path}:{name}" for name in names]
    for p in problems:
        print(f"{p.where}: FAILED\n  {p.severity}: {p.message}")
    seen = {p.message for p in problems}
    for reference in references:
        found, notes = validate_reference(reference, args.backend, args.float_precision)
        failed = any(p.severity == "error" for p in found)
        new = [p for p in found if p.message not in seen]
        seen |= {p.message for p in found}
        problems += new
        repeated = len(found) - len(new)
        if args.quiet and not new:
            continue
        print(f"{reference}: {'FAILED' if failed else 'ok'}")
        for p in new:
            text = p.message.replace("\n", "\n    ")
            print(f"  {p.severity}: {text}")
        if repeated:
            print(f"  ({repeated} problem(s) reported above for a template it uses)")
        if not args.quiet:
            for note in notes:
                print(f"  {note}")
    n_errors = sum(p.severity == "error" for p in problems)
    n_warnings = len(problems) - n_errors
    print(f"{len(references)} template(s) checked: {n_errors} error(s), {n_warnings} warning(s)")
    return 1 if n_errors else 0


# --------------------------------------------------------------------------- parser and main

_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_plugins_command,
    _add_conformance_command,
    _add_models_command,
    _add_export_command,
    _add_run_command,
    _add_validate_command,
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
    except KeyboardInterrupt:
        print("rates: interrupted", file=sys.stderr)
        return 130
