"""What Keras says about a zoo model, compared row by row with a cnncost report.

Unlike `support.keras_reference.keras_rows` (layers only), the rows here are every *operation*
of the functional graph (keras.ops calls such as `get_item` or `split` included: they own no
weights), with nested functional models (a keras-hub backbone's `image_encoder`) flattened into
`outer/inner` rows as cnncost names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _weights(operation) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in getattr(operation, "trainable_weights", []))
    frozen = sum(int(np.prod(w.shape)) for w in getattr(operation, "non_trainable_weights", []))
    return trainable, frozen


def _first_output_shape(operation):
    for node in getattr(operation, "_inbound_nodes", []):
        outputs = node.output_tensors
        if outputs:
            return tuple(outputs[0].shape)
    return None


def _output_shapes(operation) -> tuple:
    """Every output shape of the operation's first call."""
    for node in getattr(operation, "_inbound_nodes", []):
        if node.output_tensors:
            return tuple(tuple(t.shape) for t in node.output_tensors)
    return ()


def _graph_operations(model):
    """The operations of a functional model (a Sequential model's own functional graph)."""
    operations = getattr(model, "operations", None)
    return list(operations) if operations is not None else list(model.layers)


def _has_graph(operation) -> bool:
    import keras

    return isinstance(operation, keras.Model) and bool(getattr(operation, "outputs", None))


def keras_rows(model, prefix: str = "") -> dict[str, dict]:
    """Row name -> {"shape": first output shape, "trainable", "non_trainable"} as Keras has it.

    A nested model with a graph is flattened (`outer/inner`); its own InputLayer is no row.
    Only the first call of each operation is listed (shared layers: cnncost names later calls
    `name:1`, ...).
    """
    rows: dict[str, dict] = {}
    for operation in _graph_operations(model):
        if prefix and type(operation).__name__ == "InputLayer":
            continue
        name = prefix + operation.name
        if _has_graph(operation):
            rows.update(keras_rows(operation, name + "/"))
            continue
        trainable, frozen = _weights(operation)
        rows[name] = {
            "shape": _first_output_shape(operation),
            "shapes": _output_shapes(operation),
            "trainable": trainable,
            "non_trainable": frozen,
        }
    return rows


def same_shape(ours: tuple, keras: tuple) -> bool:
    """Equal, where a dim Keras leaves None may be known to cnncost.

    A nested model built for any image size (keras-hub's `image_shape=(None, None, 3)`
    encoders) records its inner layers' shapes as (None, None, None, C) in its own graph; called
    on a 64x64 input, cnncost knows them. Every dim Keras knows must be equal.
    """
    return len(ours) == len(keras) and all(k is None or o == k for o, k in zip(ours, keras))


@dataclass(frozen=True)
class Mismatch:
    row: str
    what: str  # "missing" | "shape" | "params" | "unknown"
    ours: object
    keras: object


def mismatches(report, model) -> list[Mismatch]:
    """Every row where cnncost and Keras disagree (or cnncost does not know the value).

    A row cnncost cannot cost (status `unsupported`/`partial`) is a mismatch of kind "unknown"
    only where the value Keras has is missing from the report (shape or params `None`).
    """
    ours = {row.name: row for row in report.layers}
    found: list[Mismatch] = []
    for name, ref in keras_rows(model).items():
        row = ours.get(name)
        if row is None:
            row = _traced_group(report, name)
        if row is None:
            found.append(Mismatch(name, "missing", None, ref))
            continue
        first = row.output_shapes[0] if row.output_shapes else None
        if isinstance(row, _Group) and ref["shape"] is not None:
            # a traced composite: Keras's first output is one of the tensors leaving the group;
            # when no row outside reads it (a list of feature maps of which the model uses the
            # last), the group's last row must give one of Keras's outputs
            leaving = [s for s in row.output_shapes if s]
            first = next((s for s in leaving if same_shape(tuple(s), ref["shape"])), None)
            if first is None and leaving:
                first = leaving[0]
                other = [k for k in ref["shapes"][1:] if same_shape(tuple(first), k)]
                ref = {**ref, "shape": other[0]} if other else ref
        shape = tuple(first) if first is not None else None
        if ref["shape"] is not None and shape is None:
            found.append(Mismatch(name, "unknown", shape, ref["shape"]))
        elif ref["shape"] is not None and not same_shape(shape, ref["shape"]):
            if not _computed_shape_is(model, name, shape):
                found.append(Mismatch(name, "shape", shape, ref["shape"]))
        params = (row.trainable_params, row.non_trainable_params)
        expected = (ref["trainable"], ref["non_trainable"])
        if None in params:
            found.append(Mismatch(name, "unknown", params, expected))
        elif params != expected:
            found.append(Mismatch(name, "params", params, expected))
    return found


def _computed_shape_is(model, name: str, shape: tuple) -> bool:
    """Whether Keras, running the model on one zero sample, computes `shape` (its batch 1 for
    None) at the top-level layer `name`: the reference when the shape Keras declares is not the
    one it computes (keras-hub 0.32.0's SigLIPVisionEmbedding declares `patches**2 + 1` tokens,
    a class token it does not add)."""
    import keras

    if "/" in name or len(model.inputs) != 1 or None in tuple(model.inputs[0].shape)[1:]:
        return False
    probe = keras.Model(model.inputs, model.get_layer(name).output)
    sample = np.zeros((1, *tuple(model.inputs[0].shape)[1:]), model.inputs[0].dtype)
    computed = tuple(probe(sample).shape)
    return computed == tuple(1 if d is None else d for d in shape)


@dataclass(frozen=True)
class _Group:
    """A composite layer cnncost shows as the rows of the calls traced inside it."""

    output_shapes: tuple
    trainable_params: int | None
    non_trainable_params: int | None


def _traced_group(report, name: str) -> _Group | None:
    """The rows `name/...` standing for one composite layer (a custom layer whose `call` was
    traced into its sub-layers' calls), as one row: params are the sum over its rows (Keras
    counts a layer's sub-layers' weights as its own); its outputs are the tensors that leave the
    group (read by a row outside it, or model outputs), the last row's first."""
    rows = [row for row in report.layers if row.name.startswith(name + "/")]
    if not rows:
        return None
    inside = {row.name for row in rows}
    read_outside = {
        source for row in report.layers if row.name not in inside for source in row.inputs
    } | {tensor.name for tensor in report.outputs}
    leaving = [row for row in rows if row.name in read_outside and row is not rows[-1]]
    # a composite may also return its input unchanged (keras-hub's HGNetV2Encoder returns the
    # embedding it was given as its first hidden state)
    by_name = {row.name: row for row in report.layers}
    entering = [
        by_name[source]
        for row in rows
        for source in row.inputs
        if source not in inside and source in by_name
    ]
    leaving += entering

    def total(values):
        values = list(values)
        return None if None in values else sum(values)

    return _Group(
        output_shapes=(
            *rows[-1].output_shapes,
            *(shape for row in leaving for shape in row.output_shapes),
        ),
        trainable_params=total(row.trainable_params for row in rows),
        non_trainable_params=total(row.non_trainable_params for row in rows),
    )


def unknown_rows(report) -> list:
    """Rows with any value cnncost could not determine (status other than `exact`)."""
    return [row for row in report.layers if row.status != "exact"]


def is_complete(report) -> bool:
    """Complete: no row is unknown, and the report says its totals count every row."""
    return report.complete and not unknown_rows(report)


def graph_params(model) -> int:
    """Keras's own params of every layer the model's graph calls, summed: `count_params()`
    except for a model holding weights its graph never uses (keras-hub's BASNet and
    DepthAnything: `count_params()` counts them; no row of the graph owns them)."""
    return sum(row["trainable"] + row["non_trainable"] for row in keras_rows(model).values())


def assert_zoo_parity(report, model) -> None:
    """Every row's shape and params equal Keras's, the params total equals Keras's per-layer
    params summed (`count_params()` where the model holds no unused weights), complete."""
    unknown = [(row.name, row.type, row.status) for row in unknown_rows(report)]
    assert not unknown, f"{len(unknown)} rows not exact, e.g. {unknown[:5]}"
    assert report.complete, f"report says its totals are not complete: {report.left_out}"
    wrong = mismatches(report, model)
    assert not wrong, f"{len(wrong)} rows differ from Keras, e.g. {wrong[:5]}"
    expected = graph_params(model)
    assert report.totals["params"] == expected, (report.totals["params"], expected)


def assert_partial_parity(report, model, blocked_by: frozenset[str]) -> None:
    """A model cnncost does not cost completely yet: the rows it cannot cost are exactly those of
    the classes `blocked_by`, the report says it is incomplete, and every value it gives equals
    Keras's (no row is wrong). When a class gets a rule, this fails until the list shrinks."""
    unsupported = {row.type for row in report.layers if row.status == "unsupported"}
    assert unsupported == set(blocked_by), f"unsupported classes {sorted(unsupported)}"
    assert not report.complete
    wrong = [m for m in mismatches(report, model) if m.what in ("shape", "params")]
    assert not wrong, f"{len(wrong)} rows differ from Keras, e.g. {wrong[:5]}"
