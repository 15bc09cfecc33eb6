"""The command line: thin commands over the library; the only module that prints.

Errors in the user's input are one line on stderr (`cnncost: error: ...`) and exit code 2;
`--strict` makes any unsupported or partial row exit 1.
"""

from __future__ import annotations

import argparse
import io
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
    _add_cost_options(parser)


def _add_cost_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    parser.add_argument(
        "--flops-convention",
        choices=("full", "tf-profiler"),
        default="full",
        help="full: 2*MACs + documented elementwise costs; tf-profiler: what TF's profiler counts",
    )
    parser.add_argument(
        "--padding-aware", action="store_true", help="do not count taps that fall on padding"
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        metavar="POLICY",
        help="dtype policy for memory (float32, bfloat16, mixed_float16, ...)",
    )
    _add_plugin_option(parser)


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-model-code",
        action="store_true",
        help="build a model class the file names (a Functional subclass such as kimm or "
        "keras-hub models) with Keras, without weights: imports and runs that package's code",
    )


def _add_plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="load layer rules for custom classes (repeatable; see docs/plugins.md)",
    )


def _add_output_options(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    parser.add_argument("--format", choices=formats, default="table")
    parser.add_argument("--units", choices=UNITS, default="auto", help="number units in tables")
    parser.add_argument("--no-color", action="store_true", help="plain text, no colours")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        metavar="NAME",
        help="roofline latency on a device: h200, h100, a100, l4, t4, v100, a calibrated "
        "profile name (`cnncost calibrate --engine keras --kinds` adds per-layer-kind "
        "efficiencies), or a profile .json",
    )
    parser.add_argument(
        "--dataset-size", type=int, metavar="N", help="samples per epoch: adds the epoch time"
    )
    parser.add_argument(
        "--tf32", action="store_true", help="float32 convs/matmuls at the TF32 tensor-core peak"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnncost", description="Exact per-layer cost of Keras CNNs.")
    parser.add_argument("--version", action="version", version=f"cnncost {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    report = commands.add_parser("report", help="per-layer shapes, params and cost of a model")
    report.add_argument(
        "model", help="a .keras file, a Keras 2/3 .h5 file or a Keras 2 SavedModel folder"
    )
    _add_analysis_options(report)
    _add_trust_option(report)
    _add_output_options(report, ("table", "json", "csv", "markdown"))
    report.add_argument("--columns", metavar="A,B,..", help="columns to show (JSON field names)")
    report.add_argument("--sort", metavar="COLUMN", help="sort rows by COLUMN (largest first)")
    report.add_argument("--top", type=int, metavar="N", help="only the N heaviest rows")
    report.add_argument("--depth", type=int, metavar="N", help="collapse nested models below N")
    report.add_argument("--by-type", action="store_true", help="totals per layer type")
    report.add_argument("--strict", action="store_true", help="exit 1 on unsupported/partial rows")
    _add_device_options(report)
    report.set_defaults(run=_run_report)

    diff = commands.add_parser("diff", help="two models (or one at two sizes) side by side")
    diff.add_argument("model_a")
    diff.add_argument("model_b")
    diff.add_argument("--a-input-shape", metavar="SHAPE", help="input shape for model A")
    diff.add_argument("--b-input-shape", metavar="SHAPE", help="input shape for model B")
    _add_cost_options(diff)
    _add_trust_option(diff)
    _add_output_options(diff, ("table", "json"))
    diff.set_defaults(run=_run_diff)

    plot = commands.add_parser("plot", help="per-layer FLOPs/params bars and RF growth (PNG)")
    plot.add_argument("model")
    _add_analysis_options(plot)
    _add_trust_option(plot)
    plot.add_argument("--out", required=True, metavar="FILE.png")
    plot.set_defaults(run=_run_plot)

    calibrate = commands.add_parser(
        "calibrate", help="measure this machine's peak FLOP/s and bandwidth (a device profile)"
    )
    calibrate.add_argument("--name", default="local", help="profile name (default: local)")
    calibrate.add_argument(
        "--engine",
        choices=("numpy", "keras"),
        default="numpy",
        help="numpy (CPU, no Keras) or keras (the current Keras backend, compiled ops)",
    )
    calibrate.add_argument(
        "--dtypes", default=None, help="comma-separated (default float32,float64 / float32)"
    )
    calibrate.add_argument("--matmul-size", type=int, default=2048, metavar="N")
    calibrate.add_argument("--repeats", type=int, default=10, metavar="N")
    calibrate.add_argument(
        "--kinds",
        action="store_true",
        help="also measure per-layer-kind efficiency factors on synthetic layers (keras engine; "
        "a few minutes)",
    )
    calibrate.add_argument(
        "--out", metavar="FILE.json", help="where to write (default $CNNCOST_DEVICES_DIR/NAME.json)"
    )
    calibrate.set_defaults(run=_run_calibrate)

    conventions = commands.add_parser("conventions", help="the FLOP convention table")
    conventions.add_argument("--format", choices=("table", "json"), default="table")
    conventions.set_defaults(run=_run_conventions)

    _add_advice_commands(commands)

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
        console = Console(record=True, file=io.StringIO(), width=120)
        console.print(renderable)
        _write(console.export_text(), args.output)
    else:
        Console(no_color=args.no_color, soft_wrap=False).print(renderable)


def _analyze(model: str, input_shape, args: argparse.Namespace):
    from cnncost.analysis import analyze

    device = {
        key: getattr(args, key)
        for key in ("device", "dataset_size", "tf32", "trust_model_code")
        if getattr(args, key, None) not in (None, False)
    }
    return analyze(
        model,
        input_shape=input_shape,
        batch=args.batch,
        flops_convention=args.flops_convention,
        padding_aware=args.padding_aware,
        dtype=args.dtype,
        **device,
    )


def _run_report(args: argparse.Namespace) -> int:
    from cnncost.render.view import make_view

    report = _analyze(args.model, args.input_shape, args)
    data = report.to_dict()
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None

    def view_of(d):
        return make_view(d, columns, args.sort, args.top, args.depth, args.by_type)

    view = view_of(data)  # validates the view options before anything is printed
    view_flags = [
        flag
        for flag, value in (
            ("--columns", args.columns),
            ("--sort", args.sort),
            ("--top", args.top),
            ("--depth", args.depth),
            ("--by-type", args.by_type),
        )
        if value not in (None, False)
    ]
    if args.format == "json" and view_flags:
        raise CnnCostError(
            f"{view_flags[0]} shapes the table/csv/markdown views; --format json is always the "
            "whole report (the JSON contract)"
        )
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

    a = _analyze(args.model_a, args.a_input_shape, args).to_dict()
    b = _analyze(args.model_b, args.b_input_shape, args).to_dict()
    if args.format == "json":
        from cnncost.limits import dumps_json

        _write(dumps_json(diff_to_dict(a, b), indent=2), args.output)
    else:
        from cnncost.render.diff_table import render_diff

        _print_rich(render_diff(a, b, args.units), args)
    return EXIT_OK


def _run_plot(args: argparse.Namespace) -> int:
    from cnncost.plot import plot_report

    report = _analyze(args.model, args.input_shape, args)
    plot_report(report.to_dict(), args.out)
    sys.stdout.write(f"wrote {args.out}\n")
    return EXIT_OK


def _run_calibrate(args: argparse.Namespace) -> int:
    from cnncost.devices import calibrate_keras, calibrate_numpy, save_device

    if args.matmul_size < 1 or args.repeats < 1:
        raise CnnCostError("--matmul-size and --repeats must be positive")
    measure = calibrate_numpy if args.engine == "numpy" else calibrate_keras
    kwargs = {"matmul_size": args.matmul_size, "repeats": args.repeats}
    if args.kinds:
        if args.engine != "keras":
            raise CnnCostError("calibrate --kinds needs --engine keras (it runs Keras layers)")
        kwargs["kinds"] = True
    if args.dtypes:
        kwargs["dtypes"] = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    try:
        profile = measure(args.name, **kwargs)
    except TypeError as exc:  # numpy/keras refusing a dtype name
        raise CnnCostError(f"calibrate: {exc}") from None
    path = save_device(profile, args.out)
    peaks = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in profile.peak_flops.items())
    sys.stdout.write(
        f"{profile.name}: {peaks}; bandwidth {profile.bandwidth / 1e9:.1f} GB/s; "
        f"overhead {profile.overhead_s * 1e6:.1f} us per layer\n"
    )
    for kind, f in profile.efficiency.items():
        sys.stdout.write(
            f"  {kind}: efficiency {f.efficiency:.2f}, overhead {(f.overhead_s or 0) * 1e6:.1f} us"
            f" per layer; training: backward efficiency {f.backward_efficiency:.2f}, overhead "
            + ("-" if f.train_overhead_s is None else f"{f.train_overhead_s * 1e6:.1f} us")
            + " per kernel-group\n"
        )
    for kind, free in (profile.measured.get("kinds") or {}).get("over_peak", {}).items():
        sys.stdout.write(
            f"  {kind}: the fit gave efficiency {free:.2f}, faster than the calibrated peak "
            "allows (timings too small against the call overhead, or load): refitted at 1.00\n"
        )
    sys.stdout.write(f"wrote {path}\n")
    return EXIT_OK


def _run_conventions(args: argparse.Namespace) -> int:
    from cnncost.conventions import convention_rows

    rows = convention_rows()
    if args.format == "json":
        from cnncost.limits import dumps_json

        _write(dumps_json(rows, indent=2), None)
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="FLOP convention 'full': flops = 2*MACs + these elementwise costs",
        title_justify="left",
    )
    for column in ("key", "forward", "input_gradient", "weight_gradient", "note"):
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(
            *(
                str(row[c] or "")
                for c in ("key", "forward", "input_gradient", "weight_gradient", "note")
            )
        )
    Console().print(table)
    return EXIT_OK


def _run_help(parser, commands, args) -> int:
    if args.topic is None:
        parser.print_help()
    elif args.topic in commands.choices:
        commands.choices[args.topic].print_help()
    else:
        raise CnnCostError(f"no command {args.topic!r}; commands: {', '.join(commands.choices)}")
    return EXIT_OK


# -- formula / suggest / audit (cnncost.symbolic, cnncost.advise, cnncost.audit) -------------------


def _add_advice_commands(commands) -> None:
    formula = commands.add_parser(
        "formula", help="per-layer sizes, params, MACs, FLOPs, RF start as formulas in H, W"
    )
    formula.add_argument("model")
    formula.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="input shape with names for symbolic sizes: H,W,3 (default: every spatial size)",
    )
    formula.add_argument(
        "--at", metavar="H=256,W=256", help="also evaluate the formulas at these sizes"
    )
    _add_cost_options(formula)
    formula.add_argument("--format", choices=("text", "latex", "json"), default="text")
    formula.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    formula.set_defaults(run=_run_formula)

    suggest = commands.add_parser(
        "suggest", help="edits for a target RF or FLOP/param budget, with exact before/after"
    )
    suggest.add_argument("model", help="a .keras file or a JSON model config")
    suggest.add_argument("--target-rf", type=int, metavar="N", help="receptive field to reach")
    suggest.add_argument("--max-flops", type=_count, metavar="X", help="FLOP budget (e.g. 3e8)")
    suggest.add_argument("--max-params", type=_count, metavar="X", help="param budget")
    suggest.add_argument("--write", metavar="DIR", help="write each edit as a config-only .keras")
    _add_analysis_options(suggest)
    suggest.add_argument("--format", choices=("text", "json"), default="text")
    suggest.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    suggest.set_defaults(run=_run_suggest)

    audit = commands.add_parser(
        "audit", help="check hand-calculated claims (TOML) and name each mistake; exit 1 if wrong"
    )
    audit.add_argument("model")
    audit.add_argument(
        "claims", help="a TOML file of [[claim]] entries (see docs/commands/audit.md)"
    )
    _add_analysis_options(audit)
    audit.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    audit.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    audit.set_defaults(run=_run_audit)


def _count(text: str) -> int:
    """A positive count: 300000000, 3e8 or 300_000_000; finite and at most 2**100
    (cnncost.limits.MAX_COUNT), checked before any conversion."""
    from cnncost.limits import MAX_COUNT, parse_whole

    return parse_whole(text, "a budget", MAX_COUNT)


def _run_suggest(args: argparse.Namespace) -> int:
    from cnncost.advise import suggest, write_suggestions
    from cnncost.analysis import Options
    from cnncost.limits import MAX_SIZE, dumps_json
    from cnncost.render.advice import render_advice_text

    if args.target_rf is not None and args.target_rf <= 0:
        raise CnnCostError(f"--target-rf must be positive, not {args.target_rf}")
    if args.target_rf is not None and args.target_rf > MAX_SIZE:
        raise CnnCostError(f"--target-rf is above cnncost's cap of {MAX_SIZE} (docs/limits.md)")
    options = Options(
        input_shape=args.input_shape,
        batch=args.batch,
        flops_convention=args.flops_convention,
        padding_aware=args.padding_aware,
        dtype=args.dtype,
    )
    advice = suggest(args.model, args.target_rf, args.max_flops, args.max_params, options)
    data = advice.to_dict()
    written: dict[int, str] = {}
    if args.write:
        paths = write_suggestions(advice, args.write)
        numbers = [n for n, s in enumerate(advice.suggestions, 1) if s.config is not None]
        written = {n: str(p) for n, p in zip(numbers, paths)}
        for number, path in written.items():
            data["suggestions"][number - 1]["written"] = path
    if args.format == "json":
        _write(dumps_json(data, indent=2), args.output)
    else:
        _write(render_advice_text(data, written), args.output)
    return EXIT_OK


def _run_audit(args: argparse.Namespace) -> int:
    from cnncost.analysis import Options
    from cnncost.audit import audit
    from cnncost.limits import dumps_json
    from cnncost.render.advice import render_audit_markdown, render_audit_text

    options = Options(
        input_shape=args.input_shape,
        batch=args.batch,
        flops_convention=args.flops_convention,
        padding_aware=args.padding_aware,
        dtype=args.dtype,
    )
    result = audit(args.model, args.claims, options)
    data = result.to_dict()
    if args.format == "json":
        _write(dumps_json(data, indent=2), args.output)
    elif args.format == "markdown":
        _write(render_audit_markdown(data), args.output)
    else:
        _write(render_audit_text(data), args.output)
    return EXIT_STRICT if result.wrong else EXIT_OK


def _parse_at(text: str) -> dict[str, int]:
    values = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not name.strip() or not value.strip().isdigit():
            raise CnnCostError(f"--at expects NAME=SIZE pairs like H=256,W=256, not {text!r}")
        values[name.strip()] = int(value)
    return values


def _run_formula(args: argparse.Namespace) -> int:
    from cnncost.render.formula import (
        render_formula_json,
        render_formula_latex,
        render_formula_text,
    )
    from cnncost.symbolic import formulas

    result = formulas(
        args.model,
        input_shape=args.input_shape,
        batch=args.batch,
        flops_convention=args.flops_convention,
        padding_aware=args.padding_aware,
        dtype=args.dtype,
    )
    if args.at:
        result = result.evaluate(_parse_at(args.at))
    render = {
        "text": render_formula_text,
        "latex": render_formula_latex,
        "json": render_formula_json,
    }[args.format]
    _write(render(result), args.output)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if hasattr(args, "plugin"):
            from cnncost.plugins import load_plugins

            load_plugins(args.plugin)
        return args.run(args)
    except CnnCostError as exc:
        sys.stderr.write(f"cnncost: error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("cnncost: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
