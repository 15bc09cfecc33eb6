"""The result of an analysis as plain data: no printing here (see `cnncost.render`).

`Report.to_dict()` is the JSON contract (schema 1, docs/json.md). Values that could not be
determined are `None` (JSON null) and the row's status says why; there is no silent 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnncost import __version__
from cnncost.diagnostics import warning_details

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: Any  # a shape tuple, or None when unknown


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    inputs: tuple[str, ...]
    output_shapes: tuple[Any, ...]
    params: int | None
    trainable_params: int | None
    non_trainable_params: int | None
    macs: Any
    status: str  # exact | partial | unsupported
    extra: Mapping[str, Any] = field(default_factory=dict)  # flops, train_flops, rf, ... by pass

    @property
    def output_shape(self) -> Any:
        return self.output_shapes[0] if len(self.output_shapes) == 1 else list(self.output_shapes)


@dataclass(frozen=True)
class Report:
    model_name: str
    source: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    conventions: Mapping[str, Any]
    layers: tuple[LayerRow, ...]
    totals: Mapping[str, Any]
    warnings: tuple[str, ...]
    # per total, the rows it could not count: that total is a lower bound (shown with `≥`)
    left_out: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every total counts every row."""
        return not self.left_out

    def exact_total(self, key: str) -> Any:
        """The total when it counts every row, else None (for checks that need the exact value)."""
        return None if key in self.left_out else self.totals.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "cnncost_version": __version__,
            "model": {
                "name": self.model_name,
                "source": self.source,
                "inputs": [_tensor(t) for t in self.inputs],
                "outputs": [_tensor(t) for t in self.outputs],
            },
            "conventions": dict(self.conventions),
            "totals": {k: _jsonable(v) for k, v in self.totals.items()},
            "complete": self.complete,
            "left_out": {k: list(v) for k, v in self.left_out.items()},
            "layers": [_row(r) for r in self.layers],
            "warnings": list(self.warnings),
            # each warning's stable kind and row (cnncost.diagnostics; docs/json.md)
            "warning_details": warning_details(self.warnings),
        }

    def to_dataframe(self):
        """One row per layer (pandas is imported here, not at start-up)."""
        import pandas as pd

        records = []
        for row in self.to_dict()["layers"]:
            record = {k: v for k, v in row.items() if k != "receptive_field"}
            record["output_shape"] = str(record["output_shape"])
            record["inputs"] = ",".join(record["inputs"])
            records.append(record)
        return pd.DataFrame.from_records(records)

    def __rich__(self):
        from cnncost.render.table import render_table

        return render_table(self)

    def __str__(self) -> str:
        """The table, totals and warnings as plain text (what `print(report)` shows)."""
        from cnncost.render.table import table_text

        return table_text(self)

    def __repr__(self) -> str:
        totals = self.totals
        bound = "complete" if self.complete else f"lower bounds: {', '.join(self.left_out)}"
        return (
            f"<cnncost.Report {self.model_name!r}: {len(self.layers)} rows, "
            f"params {totals.get('params')}, macs {totals.get('macs')}, "
            f"flops {totals.get('flops')} ({bound})>"
        )

    def _repr_html_(self) -> str:
        """Jupyter/IPython: the same table as HTML."""
        from cnncost.render.table import table_html

        return table_html(self)


def _shape(shape: Any) -> Any:
    if shape is None:
        return None
    return [_jsonable(d) for d in shape]


def _tensor(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "shape": _shape(t.shape)}


def _jsonable(value: Any) -> Any:
    """Ints stay ints; sympy expressions become strings; dicts/lists recurse."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if getattr(value, "is_Integer", False):
        return int(value)
    return str(value)


def _row(row: LayerRow) -> dict[str, Any]:
    shapes = [_shape(s) for s in row.output_shapes]
    out = {
        "name": row.name,
        "type": row.type,
        "inputs": list(row.inputs),
        "output_shape": shapes[0] if len(shapes) == 1 else shapes,
        "params": row.params,
        "trainable_params": row.trainable_params,
        "non_trainable_params": row.non_trainable_params,
        "macs": _jsonable(row.macs),
    }
    out.update({k: _jsonable(v) for k, v in row.extra.items()})
    out["status"] = row.status
    return out
