"""The command line: thin commands over the library; the only module that prints.

Errors in the user's input are one line on stderr (`cnncost: error: ...`) and exit code 2;
`--strict` makes any unsupported or partial row exit 1.
"""

from __future__ import annotations

import argparse
import io
import os
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
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        help="do not load installed (entry-point) plugins; also CNNCOST_NO_PLUGINS=1",
    )


def _add_output_options(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    parser.add_argument("--format", choices=formats, default="table")
    parser.add_argument("--units", choices=UNITS, default="auto", help="number units in tables")
    parser.add_argument("--no-color", action="store_true", help="plain text, no colours")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    _add_force_option(parser)


def _add_force_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="overwrite an existing output file (never an input)"
    )


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


def _add_readable_options(report: argparse.ArgumentParser) -> None:
    """--group, --percent, --totals-only (cnncost.render.grouping / share / summary)."""
    report.add_argument(
        "--group",
        action="store_true",
        help="one row per block/stage (name prefixes such as conv2_block1_, nested models), "
        "summed exactly; levels with --depth (default: the deepest that fits 40 rows)",
    )
    report.add_argument(
        "--percent", action="store_true", help="add each number column's %% of the total"
    )
    report.add_argument(
        "--totals-only", action="store_true", help="only the summary of the totals, no rows"
    )


def _add_plot_options(plot: argparse.ArgumentParser) -> None:
    plot.add_argument(
        "--top", type=int, default=15, metavar="N", help="bars for the N heaviest layers (15)"
    )
    plot.add_argument(
        "--by",
        choices=("auto", "group", "type"),
        default="auto",
        help="shares per block/stage (group) or per layer type; auto: blocks when the names "
        "give them",
    )
    plot.add_argument(
        "--scale",
        choices=("auto", "linear", "log"),
        default="auto",
        help="value axis of the heaviest-layers bars; auto: log when values span 2+ decades",
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
    report.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help="collapse nested models below N (with --group: blocks/stages below level N)",
    )
    report.add_argument("--by-type", action="store_true", help="totals per layer type")
    _add_readable_options(report)
    report.add_argument("--strict", action="store_true", help="exit 1 on unsupported/partial rows")
    report.add_argument(
        "--hide-warnings",
        metavar="KIND,..",
        help="leave out warnings of these kinds (misaligned-merge, lower-bound, ..., all)",
    )
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
    plot.add_argument("--out", required=True, metavar="FILE.png", help="a .png, .svg or .pdf file")
    _add_plot_options(plot)
    _add_force_option(plot)
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
        "--accept-noisy",
        action="store_true",
        help="store a calibration whose rounds spread too wide, flagged `noisy` (refused otherwise)",
    )
    calibrate.add_argument(
        "--out", metavar="FILE.json", help="where to write (default $CNNCOST_DEVICES_DIR/NAME.json)"
    )
    _add_force_option(calibrate)
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
        from cnncost.outputs import write_output

        # `_check_outputs` refused an existing file without --force before the run.
        write_output(output, text, force=True)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _print_rich(renderable, args) -> None:
    from rich.console import Console

    if args.output:
        console = Console(record=True, file=io.StringIO(), width=120)
        console.print(renderable)
        _write(console.export_text(), args.output)
    else:
        # --no-color: plain text, no ANSI codes at all (rich's no_color keeps bold and italic);
        # markup, emoji codes and highlighting are off: what is printed is the renderers' text
        plain = {"color_system": None} if args.no_color else {}
        Console(soft_wrap=False, markup=False, emoji=False, highlight=False, **plain).print(
            renderable
        )


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
    if args.hide_warnings:
        from dataclasses import replace

        from cnncost.diagnostics import parse_kinds, without_kinds

        hidden = parse_kinds(args.hide_warnings)
        report = replace(report, warnings=without_kinds(report.warnings, hidden))
    data = report.to_dict()
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None

    def view_of(d):
        return make_view(
            d, columns, args.sort, args.top, args.depth, args.by_type, args.group, args.percent
        )

    view = view_of(data)  # validates the view options before anything is printed
    view_flags = [
        flag
        for flag, value in (
            ("--columns", args.columns),
            ("--sort", args.sort),
            ("--top", args.top),
            ("--depth", args.depth),
            ("--by-type", args.by_type),
            ("--group", args.group),
            ("--percent", args.percent),
            ("--totals-only", args.totals_only),
        )
        if value not in (None, False)
    ]
    if args.format == "json" and view_flags:
        raise CnnCostError(
            f"{view_flags[0]} shapes the table/csv/markdown views; --format json is always the "
            "whole report (the JSON contract)"
        )
    if args.totals_only:
        _write_totals(data, view_flags, args)
    elif args.format == "json":
        from cnncost.render.json import render_json

        _write(render_json(report), args.output)
    elif args.format == "csv":
        from cnncost.render.csv import render_csv
        from cnncost.render.escape import one_line

        inputs = [t["name"] for t in data["model"]["inputs"]]
        _write(render_csv(_with_status(view, args), inputs), args.output)
        # the CSV stays one table: its warnings go to stderr (`2> warnings.txt` keeps them)
        for warning in data["warnings"]:
            sys.stderr.write(f"cnncost: warning: {one_line(warning)}\n")
    elif args.format == "markdown":
        from cnncost.render.markdown import render_markdown

        view = _with_status(view, args)
        _write(
            render_markdown(data, view, "raw" if args.units == "auto" else args.units), args.output
        )
    else:
        from cnncost.render.table import render_table

        _print_rich(render_table(data, args.units, view_of), args)
    if args.strict and any(row.status != "exact" for row in report.layers):
        return EXIT_STRICT
    return EXIT_OK


def _with_status(view, args: argparse.Namespace):
    """CSV and Markdown have no row colours: the default columns get each row's status."""
    from dataclasses import replace

    if args.columns or "status" in view.columns or not any("status" in r for r in view.rows):
        return view
    return replace(view, columns=(*view.columns, "status"))


def _write_totals(data, view_flags: list[str], args: argparse.Namespace) -> None:
    """report --totals-only: the summary block (table, markdown) or the exact totals (csv)."""
    from cnncost.render.summary import totals_csv, totals_text

    others = [flag for flag in view_flags if flag != "--totals-only"]
    if others:
        raise CnnCostError(f"--totals-only shows no rows; {others[0]} shapes the rows")
    if args.format == "csv":
        _write(totals_csv(data), args.output)
    elif args.format == "markdown":
        from cnncost.diagnostics import for_people
        from cnncost.render.escape import markdown
        from cnncost.render.summary import summary_markdown_lines
        from cnncost.render.table import title_lines

        head = [markdown(line) for line in title_lines(data)]
        lines = [f"**{head[0]}**  ", *head[1:], ""]
        lines += [markdown(line) for line in summary_markdown_lines(data)]
        lines += [f"- warning: {markdown(w)}" for w in for_people(data["warnings"])]
        _write("\n".join(lines), args.output)
    else:
        import shutil

        width = 120 if args.output else shutil.get_terminal_size((80, 24)).columns
        _write(totals_text(data, width), args.output)


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
    from cnncost.outputs import write_output
    from cnncost.plot import Options, plot_report
    from cnncost.render.escape import one_line

    report = _analyze(args.model, args.input_shape, args)
    options = Options(top=args.top, by=args.by, scale=args.scale)
    image = io.BytesIO()  # drawn in memory, then written like every output (cnncost.outputs)
    warnings = plot_report(report.to_dict(), image, options, Path(args.out).suffix[1:].lower())
    path = write_output(args.out, image.getvalue(), force=True)  # checked before the run
    for warning in warnings:
        sys.stderr.write(f"cnncost: warning: {one_line(warning)}\n")
    sys.stdout.write(f"wrote {path}\n")
    return EXIT_OK


def _run_calibrate(args: argparse.Namespace) -> int:
    from cnncost import devices
    from cnncost.spread import summary

    if args.matmul_size < 1 or args.repeats < 1:
        raise CnnCostError("--matmul-size and --repeats must be positive")
    _check_calibrate_options(args)
    measure = devices.calibrate_numpy if args.engine == "numpy" else devices.calibrate_keras
    kwargs = {"matmul_size": args.matmul_size, "repeats": args.repeats}
    if args.kinds:
        if args.engine != "keras":
            raise CnnCostError("calibrate --kinds needs --engine keras (it runs Keras layers)")
        kwargs["kinds"] = True
        # refused before the minutes of synthetic layers, not after
        kwargs["check"] = lambda p: _noisy_or_refused(p, args.accept_noisy)
    if args.dtypes:
        kwargs["dtypes"] = tuple(d.strip() for d in args.dtypes.split(","))
    try:
        profile = measure(args.name, **kwargs)
    except TypeError as exc:  # numpy/keras refusing a dtype name
        raise CnnCostError(f"calibrate: {exc}") from None
    problems = _noisy_or_refused(profile, args.accept_noisy)
    if problems:
        profile = devices.flagged_noisy(profile, problems)
        sys.stderr.write(
            f"cnncost: warning: stored flagged noisy (--accept-noisy): {'; '.join(problems)}\n"
        )
    path = devices.save_device(profile, args.out, force=args.force)
    peaks = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in profile.peak_flops.items())
    sys.stdout.write(
        f"{profile.name}: {peaks}; bandwidth {profile.bandwidth / 1e9:.1f} GB/s; "
        f"overhead {profile.overhead_s * 1e6:.1f} us per layer\n"
    )
    rounds = profile.measured.get("rounds")
    sys.stdout.write(
        f"  spread (max - min) / median over {rounds} rounds: {summary(profile.spread)}\n"
        if profile.spread
        else "  spread: not measured (one round)\n"
    )
    for kind, f in profile.efficiency.items():
        sys.stdout.write(
            f"  {kind}: efficiency {f.efficiency:.2f}, overhead {(f.overhead_s or 0) * 1e6:.1f} us"
            f" per layer; training: backward efficiency {f.backward_efficiency:.2f}, overhead "
            + ("-" if f.train_overhead_s is None else f"{f.train_overhead_s * 1e6:.1f} us")
            + " per kernel-group\n"
        )
    if profile.time_model is not None:
        model = profile.time_model
        calls = ", ".join(f"{phase} {s * 1e6:.0f} us" for phase, s in model.call_s.items())
        sys.stdout.write(
            f"  time model: {len(model.samples)} synthetic models, {len(model.kinds)} time kinds "
            f"fitted ({', '.join(model.kinds)}); fixed cost per model call: {calls or '-'}; "
            "coefficients under time_model in the profile\n"
        )
    for kind, free in (profile.measured.get("kinds") or {}).get("over_peak", {}).items():
        sys.stdout.write(
            f"  {kind}: the fit gave efficiency {free:.2f}, faster than the calibrated peak "
            "allows (timings too small against the call overhead, or load): refitted at 1.00\n"
        )
    sys.stdout.write(f"wrote {path}\n")
    return EXIT_OK


def _noisy_or_refused(profile, accept_noisy: bool) -> list[str]:
    """The calibration's problems (`devices.calibration_problems`); refused in one line (exit
    2, nothing written) unless `--accept-noisy`."""
    from cnncost.devices import calibration_problems
    from cnncost.spread import SPREAD_LIMIT

    problems = calibration_problems(profile)
    if problems and not accept_noisy:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CnnCostError(
            f"calibrate: refused (a busy machine or a wrong clock): {problems[0]}{more}; nothing "
            f"written (run again when it is idle, or --accept-noisy to store it flagged; "
            f"limit {SPREAD_LIMIT:.0%}: docs/commands/calibrate.md)"
        )
    return problems


# calibrate's limits: an n x n matmul holds 3 n^2 numbers and does 2 n^3 FLOPs per repeat (8192:
# 1.5 GiB in float64, every dtype's held at once as the rounds interleave them; about 10 s per
# repeat at 100 GFLOP/s); the dtypes each engine can time
# with compiled kernels (numpy's `object` matmul is a Python loop: hours, not a peak).
MAX_MATMUL_SIZE, MAX_REPEATS = 8192, 1000
CALIBRATE_DTYPES = {"numpy": ("float16", "float32", "float64"),
                    "keras": ("float16", "bfloat16", "float32", "float64")}  # fmt: skip


def _check_calibrate_options(args: argparse.Namespace) -> None:
    import re

    from cnncost.devices import profile_path
    from cnncost.outputs import check_output

    if args.matmul_size > MAX_MATMUL_SIZE or args.repeats > MAX_REPEATS:
        raise CnnCostError(
            f"--matmul-size is at most {MAX_MATMUL_SIZE} and --repeats at most {MAX_REPEATS}"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", args.name):
        raise CnnCostError(
            f"--name {args.name[:80]!r}: a profile name is 1-64 letters, digits, '.', '_' or '-' "
            "(it names the file NAME.json)"
        )
    if args.dtypes is not None:
        allowed = CALIBRATE_DTYPES[args.engine]
        dtypes = [d.strip() for d in args.dtypes.split(",")]
        bad = [d for d in dtypes if d not in allowed]
        if bad or len(set(dtypes)) != len(dtypes):
            raise CnnCostError(
                f"--dtypes {args.dtypes[:80]!r}: comma-separated, each once, from "
                f"{', '.join(allowed)} (engine {args.engine})"
            )
    if args.out is None:  # the default path: checked like --out (main checked that)
        check_output(
            profile_path(args.name),
            option="calibrate (default path under $CNNCOST_DEVICES_DIR)",
            force=args.force,
            suffixes=(".json",),
            create_parent=True,
        )


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
    _add_force_option(formula)
    formula.set_defaults(run=_run_formula)

    suggest = commands.add_parser(
        "suggest", help="edits for a target RF or FLOP/param budget, with exact before/after"
    )
    suggest.add_argument("model", help="a .keras file or a JSON model config")
    suggest.add_argument("--target-rf", type=int, metavar="N", help="receptive field to reach")
    suggest.add_argument("--max-flops", type=_count, metavar="X", help="FLOP budget (e.g. 3e8)")
    suggest.add_argument("--max-params", type=_count, metavar="X", help="param budget")
    suggest.add_argument("--write", metavar="DIR", help="write each edit as a config-only .keras")
    suggest.add_argument(
        "--weights",
        action="store_true",
        help="with --write: save each edit built by Keras with fresh weights (keras.saving.load_model opens it)",
    )
    _add_analysis_options(suggest)
    suggest.add_argument("--format", choices=("text", "json"), default="text")
    suggest.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    _add_force_option(suggest)
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
    _add_force_option(audit)
    audit.set_defaults(run=_run_audit)


def _count(text: str) -> int:
    """A positive count: 300000000, 3e8 or 300_000_000; finite and at most 2**100
    (cnncost.limits.MAX_COUNT), checked before any conversion."""
    from cnncost.limits import MAX_COUNT, parse_whole

    return parse_whole(text, "a budget", MAX_COUNT)


def _run_suggest(args: argparse.Namespace) -> int:
    from cnncost.advise import suggest, write_suggestions
    from cnncost.advise.config_edit import LOAD_CONFIG_ONLY, LOAD_WITH_WEIGHTS
    from cnncost.analysis import Options
    from cnncost.limits import MAX_SIZE, dumps_json
    from cnncost.render.advice import render_advice_text

    if args.target_rf is not None and args.target_rf <= 0:
        raise CnnCostError(f"--target-rf must be positive, not {args.target_rf}")
    if args.weights and not args.write:
        raise CnnCostError("--weights needs --write DIR")
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
        paths = write_suggestions(
            advice, args.write, args.weights, args.force, tuple(_inputs(args))
        )
        numbers = [n for n, s in enumerate(advice.suggestions, 1) if s.config is not None]
        load = LOAD_WITH_WEIGHTS if args.weights else LOAD_CONFIG_ONLY
        written = {n: str(p) for n, p in zip(numbers, paths)}
        for number, path in written.items():
            data["suggestions"][number - 1]["written"] = path
            data["suggestions"][number - 1]["load"] = load.replace("PATH", repr(path))
        written = {n: f"{p}; open with {load.replace('PATH', repr(p))}" for n, p in written.items()}
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
        value = value.strip()
        if not name.strip() or not (value.isascii() and value.isdigit()):  # not "²" or "١٢"
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


# Options naming files a command reads: every output is checked against each of them (and for
# existing files, folders, extensions) before any work is done (`cnncost.outputs`).
_INPUT_OPTIONS = ("model", "model_a", "model_b", "claims", "device", "plugin")
PLOT_FORMATS = (".png", ".svg", ".pdf")
_OUT_SUFFIXES = {"plot": PLOT_FORMATS, "calibrate": (".json",)}  # --out of these commands


def _inputs(args: argparse.Namespace) -> list[str]:
    found = []
    for name in _INPUT_OPTIONS:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item and os.path.exists(item):
                found.append(item)
    return found


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any analysis, an output that is an input or an existing file (without
    --force), a folder, or a file of another type (`cnncost.outputs`)."""
    from cnncost.outputs import check_output, check_output_dir

    inputs, force = _inputs(args), getattr(args, "force", False)
    for option, name in (("--output", "output"), ("--out", "out")):
        value = getattr(args, name, None)
        if value is not None:
            check_output(
                value,
                option=option,
                inputs=inputs,
                force=force,
                suffixes=_OUT_SUFFIXES.get(args.command) if name == "out" else None,
                create_parent=args.command == "calibrate",
            )
    if getattr(args, "write", None) is not None:
        check_output_dir(args.write, option="--write", inputs=inputs)


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # a non-UTF-8 terminal gets \u escapes, not a crash
        sys.stdout.reconfigure(errors="backslashreplace")
    restore_sigint = None
    try:
        args = build_parser().parse_args(argv)
        _check_outputs(args)
        if hasattr(args, "plugin"):
            from cnncost.plugins import install_interrupt_marker, load_plugins

            restore_sigint = install_interrupt_marker()  # a plugin's KeyboardInterrupt: its failure
            load_plugins(args.plugin, entry_points=not args.no_plugins)
        return args.run(args)
    except CnnCostError as exc:
        from cnncost.render.escape import one_line

        sys.stderr.write(f"cnncost: error: {one_line(exc)}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("cnncost: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        if restore_sigint is not None:
            restore_sigint()
