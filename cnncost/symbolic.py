"""Closed-form costs in the input size: every pass run once on sympy symbols.

The shape rules use `//` only, so running the ordinary passes on an input shape whose spatial
sizes are positive integer symbols (`H`, `W`) gives each layer's output size, params, MACs and
FLOPs as exact expressions, floors kept: `floor(floor(H/2)/2 - 5/2) + 1` is the true size of the
seed's second pooling output for *every* H, not an approximation. Receptive-field sizes and jumps
do not depend on the input size (they are ints); the *start* (centre of unit 0) does where
"same" padding's left half depends on `n mod stride`, and is derived here as an expression:

    p = floor(max((ceil(n/s) - 1)*s + k_eff - n, 0) / 2)       (TensorFlow's "same" split)
    start' = start + ((k_eff - 1)/2 - p) * jump                  (docs/receptive-field.md)

A formula holds where every size it passes through is positive; `valid_from` gives, per symbol,
the smallest value from which the model builds (sizes never decrease as the input grows).

sympy is imported here, lazily from the CLI: `import cnncost` does not import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp

from cnncost.analysis import input_overrides
from cnncost.errors import CnnCostError
from cnncost.ir import Graph
from cnncost.layers import Call, rule_for
from cnncost.layers.base import guarded, spatial_axes
from cnncost.layers.layout import input_data_formats

QUANTITIES = ("params", "macs", "flops")
MAX_VALID_SEARCH = 1 << 20  # valid_from searches input sizes up to this


def size_symbol(name: str) -> sp.Symbol:
    """The symbol of one input size: a positive integer."""
    return sp.Symbol(name, integer=True, positive=True)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_DEFAULT_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def parse_symbolic_shape(text: str) -> tuple[Any, ...]:
    """`H,W,3` or `1xHxWx3`: letters are size symbols, digits sizes, `?`/`None` unknown."""
    if not isinstance(text, str) or not text.strip():
        raise CnnCostError(f"invalid input shape {text!r}: expected e.g. H,W,3 or 256,256,3")
    dims: list[Any] = []
    text_ = text.strip()
    for part in text_.split(",") if "," in text_ else text_.split("x"):
        part = part.strip()
        if part in ("?", "None"):
            dims.append(None)
        elif part.isdigit() and int(part) > 0:
            dims.append(int(part))
        elif _NAME.match(part):
            dims.append(size_symbol(part))
        else:
            raise CnnCostError(
                f"invalid input shape {text!r}: {part!r} is neither a positive size nor a name"
            )
    return tuple(dims)


def _parse_given(value: Any) -> tuple[Any, ...]:
    return parse_symbolic_shape(value) if isinstance(value, str) else tuple(value)


def symbolic_inputs(graph: Graph, input_shape: Any = None) -> dict[str, tuple[Any, ...]]:
    """Input name -> shape with symbols for the sizes.

    With `input_shape` (a string with letters, a tuple, or {input: ...}) those dims are used;
    without it every spatial size of every model input becomes a symbol (`H`, `W`; suffixed
    `H_1`, `W_1` for a second input), so the formulas are in the input size even for a model
    built at a fixed one.
    """
    names = [ref.node for ref in graph.inputs]
    if input_shape is not None:
        return input_overrides(graph, input_shape, parse=_parse_given)
    formats = input_data_formats(graph)
    result = {}
    for position, name in enumerate(names):
        shape = graph.node(name).config.get("batch_shape")
        if not isinstance(shape, (list, tuple)) or len(shape) < 3:
            continue  # not an image-like input: keep whatever the model says
        axes = spatial_axes(len(shape), formats[name])
        letters = _DEFAULT_NAMES.get(len(axes), tuple(f"n{i}" for i in range(len(axes))))
        suffix = "" if position == 0 else f"_{position}"
        dims = list(shape)
        for axis, letter in zip(axes, letters):
            dims[axis] = size_symbol(letter + suffix)
        result[name] = tuple(dims)
    return result


# -- the formulas -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisRF:
    """Receptive field along one axis: size and jump are numbers, start an expression (or None)."""

    size: Any
    jump: Any
    start: Any


@dataclass(frozen=True)
class FormulaRow:
    name: str
    type: str
    output_shapes: tuple[Any, ...]
    values: Mapping[str, Any]  # params, macs, flops: sympy expressions (None where unknown)
    receptive_field: Mapping[str, tuple[AxisRF, ...] | str | None]  # per input; "global"


@dataclass(frozen=True)
class Formulas:
    """Every layer's output shape, params, MACs, FLOPs and RF start as expressions."""

    model_name: str
    source: str
    symbols: tuple[sp.Symbol, ...]
    inputs: Mapping[str, tuple[Any, ...]]
    rows: tuple[FormulaRow, ...]
    totals: Mapping[str, Any]
    conventions: Mapping[str, Any]
    valid_from: Mapping[str, int | None] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def row(self, name: str) -> FormulaRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise CnnCostError(f"no layer named {name!r}")

    def substitutions(self, values: Mapping[str, int]) -> dict[sp.Symbol, int]:
        by_name = {s.name: s for s in self.symbols}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise CnnCostError(
                f"no size symbol {unknown[0]!r}; the formulas use {', '.join(by_name) or 'none'}"
            )
        missing = sorted(set(by_name) - set(values))
        if missing:
            raise CnnCostError(f"give a value for {missing[0]!r}")
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise CnnCostError(f"{name} must be a positive integer, not {value!r}")
        return {by_name[name]: value for name, value in values.items()}

    def evaluate(self, values: Mapping[str, int]) -> Formulas:
        """The same formulas at one input size: every expression becomes a number. Sizes are
        model input sizes, so each is within cnncost.limits.MAX_SIZE, and every value at them
        within MAX_COUNT (docs/limits.md)."""
        from cnncost.limits import MAX_SIZE, cap_error

        for name, value in values.items():
            if isinstance(value, int) and value > MAX_SIZE:
                raise cap_error(f"the size {name}", value, MAX_SIZE)
        subs = self.substitutions(values)
        rows = tuple(
            FormulaRow(
                row.name,
                row.type,
                tuple(_subs_shape(s, subs) for s in row.output_shapes),
                {k: evaluate_expr(v, subs) for k, v in row.values.items()},
                {
                    name: rf
                    if not isinstance(rf, tuple)
                    else tuple(
                        AxisRF(
                            evaluate_expr(a.size, subs),
                            evaluate_expr(a.jump, subs),
                            evaluate_expr(a.start, subs),
                        )
                        for a in rf
                    )
                    for name, rf in row.receptive_field.items()
                },
            )
            for row in self.rows
        )
        _check_builds(rows, values, self.valid_from)
        _check_values(rows)
        return Formulas(
            self.model_name,
            self.source,
            (),
            {k: _subs_shape(v, subs) for k, v in self.inputs.items()},
            rows,
            {k: evaluate_expr(v, subs) for k, v in self.totals.items()},
            self.conventions,
            {},
            self.warnings,
        )


def _check_builds(
    rows: tuple[FormulaRow, ...], values: Mapping[str, int], bounds: Mapping[str, int | None]
) -> None:
    """Refuse sizes at which the model does not build: some layer's output would be empty.

    Every size is non-decreasing in the input size, so the first empty output in topological
    order names the layer that fails (as Keras would, building the model at those sizes).
    """
    for row in rows:
        for shape in row.output_shapes:
            for axis, dim in enumerate(shape or ()):
                if isinstance(dim, int) and dim < 1:
                    at = ", ".join(f"{k}={v}" for k, v in values.items())
                    holds = ", ".join(f"{k} >= {v}" for k, v in bounds.items() if v is not None)
                    raise CnnCostError(
                        f"the model does not build at {at}: layer {row.name!r} ({row.type}) "
                        f"would have output size {dim} on axis {axis}"
                        + (f" (the formulas hold for {holds})" if holds else "")
                    )


def _check_values(rows) -> None:
    """Every evaluated count within MAX_COUNT (as a report's: analysis._check_counts)."""
    from cnncost.limits import check_count

    for row in rows:
        for key, value in row.values.items():
            check_count(value if isinstance(value, int) else None, f"layer {row.name!r}: {key}")


def evaluate_expr(value: Any, subs: Mapping[sp.Symbol, int]) -> Any:
    """An expression at given sizes: an int, a Fraction for a half-pixel start, or None."""
    if value is None or isinstance(value, (int, Fraction)):
        return value
    number = sp.sympify(value).subs(subs)
    if not number.is_number:
        raise CnnCostError(f"{value} still depends on {sorted(map(str, number.free_symbols))}")
    number = sp.nsimplify(number) if number.is_Float else number
    if number.is_Integer:
        return int(number)
    return Fraction(int(number.p), int(number.q))


def _subs_shape(shape: Any, subs) -> Any:
    if shape is None:
        return None
    return tuple(None if d is None else evaluate_expr(d, subs) for d in shape)


def formulas(model: Any, input_shape: Any = None, **options: Any) -> Formulas:
    """Formulas for a `.keras` path, a live model or a Graph (see the module docstring)."""
    from cnncost.analysis import Options, analyze_graph, load_graph
    from cnncost.passes.receptive_field import receptive_fields
    from cnncost.passes.shapes import infer_shapes

    graph = load_graph(model, Options(**options))  # e.g. trust_model_code; a traced model
    inputs = symbolic_inputs(graph, input_shape)  # needs to be built (sizes may be letters)
    report = analyze_graph(graph, Options(input_shape=inputs or None, **options))
    shapes = infer_shapes(graph, inputs)
    rf = receptive_fields(graph, shapes)
    starts = _symbolic_starts(graph, shapes, rf)
    symbols = tuple(
        sorted(
            {s for shape in inputs.values() for d in shape if d is not None for s in _free(d)},
            key=lambda s: s.name,
        )
    )
    rows = []
    for row in report.layers:
        values = {
            "params": _expr(row.params),
            "macs": _expr(row.macs),
            "flops": _expr(row.extra.get("flops")),
        }
        rows.append(
            FormulaRow(
                row.name,
                row.type,
                tuple(_expr_shape(s) for s in row.output_shapes),
                values,
                _row_rf(rf.nodes[row.name], starts.get(row.name, {})),
            )
        )
    totals = {key: _expr(report.exact_total(key)) for key in QUANTITIES}
    return Formulas(
        report.model_name,
        report.source,
        symbols,
        {k: _expr_shape(v) for k, v in inputs.items()},
        tuple(rows),
        totals,
        dict(report.conventions),
        valid_from(rows, symbols),
        tuple(report.warnings) + tuple(rf.warnings),
    )


def _free(value: Any) -> set:
    return getattr(value, "free_symbols", set())


def _expr(value: Any) -> Any:
    if value is None:
        return None
    return sp.sympify(value)


def _expr_shape(shape: Any) -> Any:
    if shape is None:
        return None
    return tuple(None if d is None else sp.sympify(d) for d in shape)


def _row_rf(per_input: Mapping[str, Any], starts: Mapping[str, tuple]) -> dict[str, Any]:
    """Per input: a tuple of AxisRF, "global", or None (no spatial relation / unknown)."""
    from cnncost.passes.receptive_field import Local

    result: dict[str, Any] = {}
    for name, node_rf in per_input.items():
        if node_rf is None:
            result[name] = None
            continue
        if node_rf.is_global:
            result[name] = "global"
            continue
        state = node_rf.local
        if state is None:
            result[name] = None
            continue
        assert isinstance(state, Local)
        symbolic = starts.get(name)
        axes = []
        for index, axis_map in enumerate(state.maps):
            start: Any = axis_map.start
            if symbolic is not None and symbolic[index] is not None:
                start = symbolic[index]
            axes.append(AxisRF(axis_map.size_max, _rational(axis_map.jump), _rational(start)))
        result[name] = tuple(axes)
    return result


def _rational(value: Any) -> Any:
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    return value


def _same_left(n: Any, k_eff: int, stride: int) -> Any:
    total = sp.Max((sp.ceiling(sp.Rational(1, stride) * n) - 1) * stride + k_eff - n, 0)
    return sp.floor(total / 2)


def _symbolic_starts(graph: Graph, shapes, rf) -> dict[str, dict[str, tuple | None]]:
    """Unit-0 centres as expressions, along chains of period-1 window ops (see module docstring).

    Only nodes whose receptive field the RF pass keeps with period-1 maps get one; elsewhere the
    pass's own (numeric or unknown) start stands.
    """
    starts: dict[str, dict[str, tuple | None]] = {}
    for node in graph.nodes:
        per_input: dict[str, tuple | None] = {}
        for name, node_rf in rf.nodes[node.name].items():
            state = None if node_rf is None else node_rf.local
            if state is None or node_rf.is_global or any(m.period != 1 for m in state.maps):
                per_input[name] = None
                continue
            if node.is_input:
                per_input[name] = tuple(sp.Integer(0) for _ in state.maps)
                continue
            per_input[name] = _start_through(node, name, state, shapes, rf, starts)
        starts[node.name] = per_input
    return starts


def _start_through(node, name, state, shapes, rf, starts) -> tuple | None:
    rule = rule_for(node)
    sources = [starts.get(ref.node, {}).get(name) for ref in node.inputs]
    sources = [s for s in sources if s is not None]
    if rule is None or not sources:
        return None
    if rule.rf != "window" or rule.window is None:
        # pointwise and aligned merges keep the centre (a misaligned merge: the pass's own)
        return sources[0] if state.aligned else None
    node_shapes = shapes.nodes[node.name]
    window = guarded(Call(node, node_shapes.inputs), rule.window)
    if window is None or window.transposed:
        return None
    in_shape = node_shapes.inputs[0]
    previous = starts[node.inputs[0].node].get(name)
    input_rf = rf.nodes[node.inputs[0].node][name]
    if previous is None or input_rf is None or input_rf.local is None:
        return None
    result = []
    for index, axis in enumerate(a % len(in_shape) for a in window.axes):
        k_eff = window.dilation[index] * (window.kernel[index] - 1) + 1
        padding = window.padding
        if not isinstance(padding, str):
            left: Any = padding[index][0]
        elif padding == "valid":
            left = 0
        elif padding == "causal":
            left = k_eff - 1
        else:
            left = _same_left(in_shape[axis], k_eff, window.strides[index])
        jump = _rational(input_rf.local.maps[index].jump)
        result.append(sp.nsimplify(previous[index] + (sp.Rational(k_eff - 1, 2) - left) * jump))
    return tuple(result)


# -- where the formulas hold ------------------------------------------------------------------------


def valid_from(rows, symbols) -> dict[str, int | None]:
    """Per symbol, the smallest size from which every output size is positive.

    Each size is non-decreasing in the input size, so a binary search over one symbol (the
    others set large) finds the threshold; None when no size up to MAX_VALID_SEARCH works.
    """
    dims = [
        d
        for row in rows
        for shape in row.output_shapes
        if shape is not None
        for d in shape
        if d is not None and _free(d)
    ]
    result: dict[str, int | None] = {}
    for symbol in symbols:
        others = {s: MAX_VALID_SEARCH for s in symbols if s != symbol}
        mine = [d.subs(others) for d in dims if symbol in _free(d)]

        def ok(value: int, mine=mine, symbol=symbol) -> bool:
            return all(int(d.subs(symbol, value)) >= 1 for d in mine)

        if not ok(MAX_VALID_SEARCH):
            result[symbol.name] = None
            continue
        low, high = 1, MAX_VALID_SEARCH
        while low < high:
            middle = (low + high) // 2
            if ok(middle):
                high = middle
            else:
                low = middle + 1
        result[symbol.name] = low
    return result
