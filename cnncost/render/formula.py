"""`cnncost formula` output: the same formulas as plain text, LaTeX or JSON (data in, text out).

JSON keeps numbers as numbers and expressions as sympy strings (`sympy.sympify` reads them back);
half-pixel starts are strings like "21/2".
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnncost.render import escape
from cnncost.report import SCHEMA_VERSION

LABELS = {"params": "params", "macs": "MACs", "flops": "FLOPs"}


def _value(value: Any) -> Any:
    """JSON value of a number or an expression."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else str(value)
    if getattr(value, "is_Integer", False):
        return int(value)
    return str(value)


def _shape(shape: Any) -> Any:
    return None if shape is None else [_value(d) for d in shape]


def _rf(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return {
        "size": [_value(a.size) for a in value],
        "jump": [_value(a.jump) for a in value],
        "start": [_value(a.start) for a in value],
    }


def formulas_to_dict(formulas) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "model": {"name": formulas.model_name, "source": formulas.source},
        "symbols": [s.name for s in formulas.symbols],
        "inputs": {name: _shape(shape) for name, shape in formulas.inputs.items()},
        "valid_from": dict(formulas.valid_from),
        "conventions": dict(formulas.conventions),
        "layers": [
            {
                "name": row.name,
                "type": row.type,
                "output_shape": [_shape(s) for s in row.output_shapes],
                **{key: _value(v) for key, v in row.values.items()},
                "receptive_field": {name: _rf(v) for name, v in row.receptive_field.items()},
            }
            for row in formulas.rows
        ],
        "totals": {key: _value(v) for key, v in formulas.totals.items()},
        "warnings": list(formulas.warnings),
    }


def render_formula_json(formulas) -> str:
    from cnncost.limits import dumps_json

    return dumps_json(formulas_to_dict(formulas), indent=2)


def _text(value: Any) -> str:
    if value is None:
        return "unknown"
    return str(_value(value))


def _dim_text(value: Any) -> str:
    return "None" if value is None else _text(value)


def _rf_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return "size {} jump {} start {}".format(
        "x".join(_text(a.size) for a in value),
        "x".join(_text(a.jump) for a in value),
        ", ".join(_text(a.start) for a in value),
    )


def _header(formulas) -> list[str]:
    symbols = ", ".join(s.name for s in formulas.symbols)
    lines = [f"model {formulas.model_name} ({formulas.source})"]
    if symbols:
        valid = ", ".join(
            f"{name} >= {low}" if low is not None else f"{name}: no size works"
            for name, low in formulas.valid_from.items()
        )
        lines.append(f"formulas in {symbols}; the model builds for {valid}")
    conventions = formulas.conventions
    lines.append(
        f"FLOP convention {conventions.get('flops')}, batch {conventions.get('batch')}; "
        "floor() is exact integer division"
    )
    return lines


def render_formula_text(formulas) -> str:
    lines = _header(formulas)
    for row in formulas.rows:
        lines.append("")
        lines.append(f"{row.name} ({row.type})")
        shapes = "; ".join(
            "unknown" if s is None else "(" + ", ".join(_dim_text(d) for d in s) + ")"
            for s in row.output_shapes
        )
        lines.append(f"  output    {shapes}")
        for key, label in LABELS.items():
            lines.append(f"  {label:<9} {_text(row.values.get(key))}")
        for name, rf in row.receptive_field.items():
            if rf is not None:
                lines.append(f"  RF {name}: {_rf_text(rf)}")
    lines.append("")
    lines.append("totals")
    for key, label in LABELS.items():
        lines.append(f"  {label:<9} {_text(formulas.totals.get(key))}")
    for warning in formulas.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(escape.text(line) for line in lines) + "\n"  # names are the model's


def _latex(value: Any) -> str:
    import sympy as sp

    if value is None:
        return r"\text{unknown}"
    if isinstance(value, Fraction):
        value = sp.Rational(value.numerator, value.denominator)
    return sp.latex(sp.sympify(value))


def _latex_factor(value: Any) -> str:
    """A factor of a product: sums in parentheses."""
    text = _latex(value)
    return rf"\left({text}\right)" if getattr(value, "is_Add", False) else text


def render_formula_latex(formulas) -> str:
    """An `align*` block: one line per layer and quantity."""
    lines = [f"% {escape.text(line)}" for line in _header(formulas)]  # one comment line each
    lines.append(r"\begin{align*}")
    body = []
    for row in formulas.rows:
        name = escape.latex(row.name)  # no LaTeX commands or braces from the model file
        for shape in row.output_shapes:
            if shape is not None:
                dims = r" \times ".join(_latex_factor(d) for d in shape[1:])
                body.append(rf"\text{{{name}}}: &\ \text{{output}} = {dims}")
        for key, label in LABELS.items():
            value = row.values.get(key)
            if value is not None and value != 0:
                body.append(rf"\text{{{name}}}: &\ \text{{{label}}} = {_latex(value)}")
        for rf in row.receptive_field.values():
            if isinstance(rf, tuple):
                starts = ", ".join(_latex(a.start) for a in rf)
                sizes = r" \times ".join(_latex(a.size) for a in rf)
                body.append(
                    rf"\text{{{name}}}: &\ \text{{RF}} = {sizes},\ \text{{start}} = ({starts})"
                )
    for key, label in LABELS.items():
        body.append(rf"\text{{total}}: &\ \text{{{label}}} = {_latex(formulas.totals.get(key))}")
    lines.append(" \\\\\n".join(body))
    lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"
