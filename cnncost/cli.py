"""The command line: thin commands over the library; the only module that prints.

Errors in the user's input are one line on stderr (`cnncost: error: ...`) and exit code 2;
`--strict` makes any unsupported or partial row exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnncost import __version__
from cnncost.errors import CnnCostError

EXIT_OK, EXIT_STRICT, EXIT_ERROR = 0, 1, 2
UNITS = ("auto", "raw", "K", "M", "G")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line and exit code 2."""

    def error(self, message: str):
        raise CnnCostError(message)


def _add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="override the input shape: 256,256,3 or 1x256x256x3 (';' between several inputs)",
    )


def _add_output_options(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    parser.add_argument("--format", choices=formats, default="table")
    parser.add_argument("--units", choices=UNITS, default="auto", help="number units in tables")
    parser.add_argument("--no-color", action="store_true", help="plain text, no colours")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnncost", description="Exact per-layer cost of Keras CNNs.")
    parser.add_argument("--version", action="version", version=f"cnncost {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    report = commands.add_parser("report", help="per-layer shapes, params and cost of a model")
    report.add_argument("model", help="a .keras file")
    _add_analysis_options(report)
    _add_output_options(report, ("table", "json", "csv", "markdown"))
    report.add_argument("--columns", metavar="A,B,..", help="columns to show (JSON field names)")
    report.add_argument("--sort", metavar="COLUMN", help="sort rows by COLUMN (largest first)")
    report.add_argument("--top", type=int, metavar="N", help="only the N heaviest rows")
    report.add_argument("--depth", type=int, metavar="N", help="collapse nested models below N")
    report.add_argument("--by-type", action="store_true", help="totals per layer type")
    report.add_argument("--strict", action="store_true", help="exit 1 on unsupported/partial rows")
    report.set_defaults(run=_run_report)

    diff = commands.add_parser("diff", help="two models (or one at two sizes) side by side")
    diff.add_argument("model_a")
    diff.add_argument("model_b")
    diff.add_argument("--a-input-shape", metavar="SHAPE", help="input shape for model A")
    diff.add_argument("--b-input-shape", metavar="SHAPE", help="input shape for model B")
    _add_output_options(diff, ("table", "json"))
    diff.set_defaults(run=_run_diff)

    plot = commands.add_parser("plot", help="per-layer FLOPs/params bars and RF growth (PNG)")
    plot.add_argument("model")
    _add_analysis_options(plot)
    plot.add_argument("--out", required=True, metavar="FILE.png")
    plot.set_defaults(run=_run_plot)

    help_ = commands.add_parser("help", help="help on a command")
    help_.add_argument("topic", nargs="?")
    help_.set_defaults(run=lambda args: _run_help(parser, commands, args))
    return parser


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text)
        except OSError as exc:
            raise CnnCostError(f"cannot write {output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _print_rich(renderable, args) -> None:
    from rich.console import Console

    if args.output:
        console = Console(record=True, file=open("/dev/null", "w"), width=120)  # noqa: SIM115
        console.print(renderable)
        _write(console.export_text(), args.output)
    else:
        Console(no_color=args.no_color, soft_wrap=False).print(renderable)


def _analyze(model: str, input_shape):
    from cnncost.analysis import analyze

    return analyze(model, input_shape=input_shape)


def _run_report(args: argparse.Namespace) -> int:
    from cnncost.render.view import make_view

    report = _analyze(args.model, args.input_shape)
    data = report.to_dict()
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None

    def view_of(d):
        return make_view(d, columns, args.sort, args.top, args.depth, args.by_type)

    view = view_of(data)  # validates the view options before anything is printed
    if args.format == "json":
        from cnncost.render.json import render_json

        _write(render_json(report), args.output)
    elif args.format == "csv":
        from cnncost.render.csv import render_csv

        _write(render_csv(view), args.output)
    elif args.format == "markdown":
        from cnncost.render.markdown import render_markdown

        _write(
            render_markdown(data, view, "raw" if args.units == "auto" else args.units), args.output
        )
    else:
        from cnncost.render.table import render_table

        _print_rich(render_table(data, args.units, view_of), args)
    if args.strict and any(row.status != "exact" for row in report.layers):
        return EXIT_STRICT
    return EXIT_OK


def _run_diff(args: argparse.Namespace) -> int:
    from cnncost.diff import diff_to_dict

    a = _analyze(args.model_a, args.a_input_shape).to_dict()
    b = _analyze(args.model_b, args.b_input_shape).to_dict()
    if args.format == "json":
        import json

        _write(json.dumps(diff_to_dict(a, b), indent=2), args.output)
    else:
        from cnncost.render.diff_table import render_diff

        _print_rich(render_diff(a, b, args.units), args)
    return EXIT_OK


def _run_plot(args: argparse.Namespace) -> int:
    from cnncost.plot import plot_report

    report = _analyze(args.model, args.input_shape)
    plot_report(report.to_dict(), args.out)
    sys.stdout.write(f"wrote {args.out}\n")
    return EXIT_OK


def _run_help(parser, commands, args) -> int:
    if args.topic is None:
        parser.print_help()
    elif args.topic in commands.choices:
        commands.choices[args.topic].print_help()
    else:
        raise CnnCostError(f"no command {args.topic!r}; commands: {', '.join(commands.choices)}")
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
