"""The command line: thin commands over the library; the only module that prints.

Errors in the user's input are one line on stderr (`cnncost: error: ...`) and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from cnncost import __version__
from cnncost.errors import CnnCostError

EXIT_OK, EXIT_STRICT, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line and exit code 2."""

    def error(self, message: str):
        raise CnnCostError(message)


def _add_report(commands) -> None:
    report = commands.add_parser("report", help="per-layer shapes, params and cost of a model")
    report.add_argument("model", help="a .keras file")
    report.add_argument("--format", choices=("table", "json"), default="table")
    report.add_argument("--input-shape", help="override the input shape: 256,256,3 or 1x256x256x3")
    report.add_argument(
        "--strict", action="store_true", help="exit 1 if any layer is unsupported or partial"
    )
    report.set_defaults(run=_run_report)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnncost", description="Exact per-layer cost of Keras CNNs.")
    parser.add_argument("--version", action="version", version=f"cnncost {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)
    _add_report(commands)
    return parser


def _print(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _run_report(args: argparse.Namespace) -> int:
    from cnncost.analysis import analyze

    report = analyze(args.model, input_shape=args.input_shape)
    if args.format == "json":
        from cnncost.render.json import render_json

        _print(render_json(report))
    else:
        from rich.console import Console

        from cnncost.render.table import render_table

        Console(soft_wrap=False).print(render_table(report))
    if args.strict and any(row.status != "exact" for row in report.layers):
        return EXIT_STRICT
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except CnnCostError as exc:
        sys.stderr.write(f"cnncost: error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("cnncost: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
