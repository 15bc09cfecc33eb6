"""Run the passes over a graph and assemble the `Report` (loader -> IR -> passes -> Report)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncost.errors import CnnCostError
from cnncost.ir import Graph, Shape, partial_sum
from cnncost.layers import rule_for, unsupported_reason
from cnncost.layers.base import is_symbolic
from cnncost.passes.batch import batch_factors
from cnncost.passes.compute import count_compute
from cnncost.passes.memory import count_memory
from cnncost.passes.params import count_params
from cnncost.passes.receptive_field import receptive_fields
from cnncost.passes.shapes import infer_shapes
from cnncost.report import LayerRow, Report, TensorInfo


@dataclass(frozen=True)
class Options:
    input_shape: Any = None  # "256,256,3", "1x256x256x3", a tuple, or {input name: ...}
    batch: int = 1
    flops_convention: str = "full"
    padding_aware: bool = False
    dtype: str = "float32"  # a dtype policy applied to every layer, unless "float32"
    device: str | None = None  # a device profile name or .json path: adds the roofline
    dataset_size: int | None = None  # samples per epoch, for the epoch-time estimate
    tf32: bool = False  # float32 convs/matmuls at the device's TF32 tensor-core peak
    # build model classes a file names (Functional subclasses, subclassed models) with Keras:
    # imports and runs their package's code, so off by default (loaders/keras_build.py)
    trust_model_code: bool = False

    def __post_init__(self) -> None:
        from cnncost.conventions import CONVENTIONS

        if self.flops_convention not in CONVENTIONS:
            raise CnnCostError(
                f"unknown FLOP convention {self.flops_convention!r}; one of {', '.join(CONVENTIONS)}"
            )
        from cnncost.passes.memory import POLICIES

        if self.dtype not in POLICIES:
            raise CnnCostError(f"unknown dtype policy {self.dtype!r}; one of {', '.join(POLICIES)}")
        from cnncost.limits import MAX_BATCH, MAX_DATASET_SIZE, cap_error

        if not isinstance(self.batch, int) or isinstance(self.batch, bool) or self.batch < 1:
            raise CnnCostError(f"batch must be a positive integer, not {str(self.batch)[:40]}")
        if self.batch > MAX_BATCH:
            raise cap_error("the batch size", self.batch, MAX_BATCH)
        if self.dataset_size is not None and (
            not isinstance(self.dataset_size, int)
            or isinstance(self.dataset_size, bool)
            or self.dataset_size < 1
        ):
            raise CnnCostError(
                f"dataset size must be a positive integer, not {str(self.dataset_size)[:40]}"
            )
        if self.dataset_size is not None and self.dataset_size > MAX_DATASET_SIZE:
            raise cap_error("the dataset size", self.dataset_size, MAX_DATASET_SIZE)
        if self.dataset_size is not None and self.device is None:
            raise CnnCostError("a dataset size needs a device (the epoch time is a prediction)")


def load_graph(model: Any, options: Options | None = None) -> Graph:
    """A Graph from a model file path (`.keras`, `.h5`, SavedModel folder, JSON config) or a
    live keras model: through its graph if it has one (also Functional subclasses), traced if it
    is a subclassed model (`options.input_shape` gives the traced input when it is not built).
    `options.trust_model_code` lets a file's own model class be built with Keras."""
    options = options or Options()
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, Path)):
        from cnncost.loaders.dispatch import load_model_file

        return load_model_file(model, options.trust_model_code, options.input_shape)
    if hasattr(model, "get_config") and hasattr(model, "layers"):
        from cnncost.loaders.keras_live import graph_from_model

        return graph_from_model(model, options.input_shape)
    raise CnnCostError(
        f"cannot analyse a {type(model).__name__}: pass a .keras path (or .h5, SavedModel folder) or a keras.Model"
    )


_DIMS = re.compile(r"^\s*(\?|None|\d+)(\s*[x,]\s*(\?|None|\d+))*\s*$")


def parse_shape(text: Any) -> tuple:
    """`256,256,3`, `1x256x256x3` or a tuple/list; `?`/`None` for an unknown dim."""
    from cnncost.limits import MAX_RANK, MAX_SIZE

    shown = repr(text) if len(repr(text)) <= 80 else repr(text)[:80] + "..."
    if isinstance(text, (tuple, list)):
        dims = list(text)
    elif isinstance(text, str) and len(text) <= 64 * MAX_RANK and _DIMS.match(text):
        parts = [d.strip() for d in re.split(r"[x,]", text)]
        if any(len(d.lstrip("0")) > len(str(MAX_SIZE)) for d in parts):  # before int()
            raise CnnCostError(
                f"invalid input shape {shown}: a size above cnncost's cap of {MAX_SIZE}"
            )
        dims = [None if d in ("?", "None") else int(d) for d in parts]
    else:
        raise CnnCostError(f"invalid input shape {shown}: expected e.g. 256,256,3 or 1x256x256x3")
    if len(dims) > MAX_RANK:
        raise CnnCostError(
            f"invalid input shape {shown}: rank {len(dims)}, above cnncost's cap of {MAX_RANK}"
        )
    if any(d is not None and not _positive_size(d) for d in dims):
        raise CnnCostError(f"invalid input shape {shown}: sizes must be positive integers")
    if any(isinstance(d, int) and d > MAX_SIZE for d in dims):
        raise CnnCostError(f"invalid input shape {shown}: a size above cnncost's cap of {MAX_SIZE}")
    return tuple(dims)


def _positive_size(dim: Any) -> bool:
    """A positive int, or a positive integer sympy expression (symbolic input sizes)."""
    if isinstance(dim, bool):
        return False
    if isinstance(dim, int):
        return dim > 0
    return is_symbolic(dim) and dim.is_positive is True


def input_overrides(
    graph: Graph, input_shape: Any, parse: Callable[[Any], tuple] = parse_shape
) -> dict[str, Shape]:
    """Map `--input-shape` onto the model's inputs (one shape, `a;b` in input order, or a dict);
    `parse` turns one given shape into dims (`symbolic` passes one that accepts letters)."""
    if input_shape is None:
        return {}
    names = [ref.node for ref in graph.inputs]
    if isinstance(input_shape, Mapping):
        unknown = set(input_shape) - set(names)
        if unknown:
            raise CnnCostError(f"the model has no input named {sorted(unknown)[0]!r}")
        given = dict(input_shape)
    elif isinstance(input_shape, str) and ";" in input_shape:
        parts = input_shape.split(";")
        if len(parts) != len(names):
            raise CnnCostError(
                f"{len(parts)} input shapes given; the model has {len(names)} inputs"
            )
        given = dict(zip(names, parts))
    else:
        if len(names) != 1:
            raise CnnCostError(
                f"the model has {len(names)} inputs: give one shape each, separated by ';'"
            )
        given = {names[0]: input_shape}
    overrides = {}
    for name, value in given.items():
        dims = parse(value)
        model_shape = graph.node(name).config.get("batch_shape")
        rank = len(model_shape) if isinstance(model_shape, (list, tuple)) else len(dims) + 1
        if len(dims) == rank - 1:
            dims = (None, *dims)
        elif len(dims) != rank:
            raise CnnCostError(
                f"input {name!r} has rank {rank}; the given shape {value!r} has {len(dims)} dims"
            )
        overrides[name] = dims
    return overrides


def _work_not_modelled(node) -> str | None:
    """Why a rule leaves MACs/FLOPs unknown whatever the sizes (sorting, factorizations)."""
    rule = rule_for(node)
    return None if rule is None else getattr(rule.macs, "unknown_reason", None)


def _work_not_modelled_kind(graph: Graph, name: str) -> str:
    node = next(n for n in graph.nodes if n.name == name)
    return _work_not_modelled(node) or ""


def _status(supported: bool, shapes_known: bool, macs: Any) -> str:
    if not supported:
        return "unsupported"
    return "exact" if shapes_known and macs is not None else "partial"


def analyze_graph(graph: Graph, options: Options = Options()) -> Report:
    overrides = input_overrides(graph, options.input_shape)
    shapes = infer_shapes(graph, overrides)
    params = count_params(graph, shapes)
    compute = count_compute(graph, shapes, params, options.flops_convention, options.padding_aware)
    factors = batch_factors(graph, shapes, options.batch)
    memory = count_memory(
        graph,
        shapes,
        params,
        options.batch,
        None if options.dtype == "float32" else options.dtype,
        factors,
    )
    macs = {name: result.macs for name, result in compute.nodes.items()}
    rf = receptive_fields(graph, shapes)
    warnings = list(shapes.warnings)
    device = _roofline(graph, shapes, params, compute, memory, options)
    rows = []
    not_modelled: list[str] = []  # rows whose work depends on the algorithm (keras.ops)
    for node in graph.nodes:
        node_shapes = shapes.nodes[node.name]
        node_params = params[node.name]
        shapes_known = all(s is not None for s in node_shapes.outputs)
        node_compute = compute.nodes[node.name]
        counted = None if node_compute.flops is None else macs[node.name]
        status = _status(node_shapes.supported, shapes_known, counted)
        factor = factors[node.name]
        extra = _compute_extra(node_compute, memory.nodes[node.name], factor)
        if device is not None:
            extra.update(_roofline_extra(device.nodes[node.name]))
        if not node_shapes.supported:
            reason = unsupported_reason(node)
            extra["reason"] = reason
            warnings.append(
                f"{node.name}: unsupported layer class {node.class_name!r} ({reason}); "
                "its params and cost are not counted"
            )
        elif not shapes_known:
            warnings.append(f"{node.name}: output shape unknown (an upstream layer is unsupported)")
        elif macs[node.name] is None and _work_not_modelled(node):
            extra["reason"] = _work_not_modelled(node)
            not_modelled.append(node.name)
        known_params = node_params.known
        rows.append(
            LayerRow(
                name=node.name,
                type=node.class_name,
                inputs=tuple(dict.fromkeys(ref.node for ref in node.inputs)),
                output_shapes=node_shapes.outputs,
                params=node_params.total if known_params else None,
                trainable_params=node_params.trainable if known_params else None,
                non_trainable_params=node_params.non_trainable if known_params else None,
                macs=_times(macs[node.name], factor),
                status=status,
                extra={**extra, "receptive_field": rf.row(node.name)},
            )
        )
    warnings.extend(compute.warnings)
    warnings.extend(memory.warnings)
    warnings.extend(rf.warnings)
    if not_modelled:
        warnings.append(
            f"{len(not_modelled)} layers' cost is not counted: their work depends on the "
            f"algorithm the backend runs ({', '.join(not_modelled[:4])}"
            f"{' ...' if len(not_modelled) > 4 else ''}: {_work_not_modelled_kind(graph, not_modelled[0])})"
        )
    unknown_size = [
        r.name
        for r in rows
        if r.status == "partial" and r.macs is None and r.name not in not_modelled
    ]
    if unknown_size and all(s is not None for r in rows for s in r.output_shapes):
        warnings.append(
            f"{len(unknown_size)} layers' cost depends on an unknown input size "
            f"(first: {unknown_size[0]}); pass --input-shape"
        )
    totals, left_out = _totals(rows, memory)
    _check_counts(rows, totals)
    if left_out:
        warnings.append(_left_out_warning(left_out))
    conventions = {
        "flops": options.flops_convention,
        "padding_aware": options.padding_aware,
        "batch": options.batch,
        "dtype": options.dtype,
    }
    if device is not None:
        warnings.extend(device.warnings)
        totals.update(_roofline_totals(device, options))
        _check_counts((), totals)
        profile = _device_profile(options)
        if profile.noisy:
            from cnncost.devices import noisy_warning

            warnings.append(noisy_warning(profile))
        conventions.update(
            {
                "device": profile.name,
                "peak_dtype": device.dtype,
                "peak_flops": device.peak_flops,
                "bandwidth": profile.bandwidth,
                "overhead_s": profile.overhead_s,
                "call_overhead_s": profile.call_overhead_s,
                "train_call_overhead_s": profile.train_call_s,
                "efficiency": {k: f.to_dict() for k, f in profile.efficiency.items()},
            }
        )
    return Report(
        model_name=graph.name,
        source=graph.source,
        inputs=tuple(
            TensorInfo(r.node, shapes.nodes[r.node].outputs[r.index]) for r in graph.inputs
        ),
        outputs=tuple(
            TensorInfo(r.node, shapes.nodes[r.node].outputs[r.index]) for r in graph.outputs
        ),
        conventions=conventions,
        layers=tuple(rows),
        totals=totals,
        warnings=tuple(_short(w) for w in warnings),
        left_out=left_out,
    )


def _short(warning: str) -> str:
    """A warning cut to MAX_MESSAGE_CHARS, as errors are (a config string it quotes may be
    long)."""
    from cnncost.errors import MAX_MESSAGE_CHARS

    if len(warning) <= MAX_MESSAGE_CHARS:
        return warning
    return f"{warning[: MAX_MESSAGE_CHARS - 40]}... ({len(warning)} characters, cut)"


def _check_counts(rows, totals: Mapping[str, Any]) -> None:
    """Every number of the report within MAX_COUNT and finite (docs/limits.md): sizes are
    capped where they enter, but products of capped sizes (a row's MACs, a receptive field's
    jump through many strided layers, a latency on a device profile of tiny peaks) can still
    leave what a table, a plot or a JSON reader can hold. One line naming the value, never a
    traceback or a NaN in the output."""
    from cnncost.limits import check_count

    def walk(value: Any, where: str, key: str = "", depth: int = 0) -> None:
        if isinstance(value, Mapping) and depth < 4:
            for name, item in value.items():
                walk(item, where, f"{key}.{name}" if key else str(name), depth + 1)
        elif isinstance(value, (list, tuple)) and depth < 4:
            for item in value:
                walk(item, where, key, depth + 1)
        else:
            check_count(value, f"{where}{key}")

    for row in rows:
        where = f"layer {row.name!r}: "
        for key in ("params", "trainable_params", "non_trainable_params", "macs"):
            check_count(getattr(row, key), where + key)
        walk(row.extra, where)
    walk(totals, "the total ")


def _device_profile(options: Options):
    from cnncost.devices import load_device

    return load_device(options.device)


def _roofline(graph, shapes, params, compute, memory, options: Options):
    """The roofline pass on full-convention FLOPs (the work done), or None without --device."""
    if options.device is None:
        return None
    from cnncost.passes.memory import policy_dtypes
    from cnncost.passes.roofline import roofline

    if options.flops_convention != "full" or options.padding_aware:
        compute = count_compute(graph, shapes, params)
    compute_dtype = policy_dtypes(options.dtype)[1]
    return roofline(
        graph, compute, memory, params, options.batch, _device_profile(options), compute_dtype,
        options.tf32, shapes,
    )  # fmt: skip


def _roofline_extra(node) -> dict[str, Any]:
    forward, training = node.inference, node.training
    if forward is None:
        return {
            "layer_kind": node.kind,
            "bytes_moved": None,
            "arithmetic_intensity": None,
            "bound": None,
            "latency_s": None,
            "floor_s": None,
            "train_latency_s": None,
            "time_source": None,
            "train_time_source": None,
        }
    return {
        "layer_kind": node.kind,
        "bytes_moved": forward.bytes_moved,
        "arithmetic_intensity": forward.intensity,
        "bound": forward.bound,
        "latency_s": forward.time_s,
        "floor_s": forward.floor_s,
        "train_latency_s": training.time_s,
        "time_source": forward.source,
        "train_time_source": training.source,
    }


def _roofline_totals(device, options: Options) -> dict[str, Any]:
    totals: dict[str, Any] = {
        "latency_s": device.latency_s,
        "floor_s": device.floor_s,
        "train_step_s": device.train_step_s,
        "train_floor_s": device.train_floor_s,
        "train_samples_per_s": (
            options.batch / device.train_step_s if device.train_step_s else None
        ),
    }
    if options.dataset_size is not None:
        steps = -(-options.dataset_size // options.batch)  # ceil: the last batch is partial
        totals["steps_per_epoch"] = steps
        totals["epoch_s"] = None if device.train_step_s is None else steps * device.train_step_s
    return totals


def _times(value: Any, batch: int) -> Any:
    return None if value is None else value * batch


def _compute_extra(compute, memory, factor: int) -> dict[str, Any]:
    """Row fields of the compute and memory passes (whole batch: `factor` times per sample)."""
    return {
        "flops": _times(compute.flops, factor),
        "train_flops": _times(compute.train_flops, factor),
        "weight_bytes": memory.weight_bytes,
        "activation_bytes": memory.activation_bytes,
    }


# Row values summed into the totals (the memory pass sums its own).
_ROW_TOTALS: dict[str, Callable[[LayerRow], Any]] = {
    "params": lambda r: r.params,
    "trainable_params": lambda r: r.trainable_params,
    "non_trainable_params": lambda r: r.non_trainable_params,
    "macs": lambda r: r.macs,
    "flops": lambda r: r.extra["flops"],
    "train_flops": lambda r: r.extra["train_flops"],
}
_MEMORY_TOTALS = (
    "weight_bytes",
    "activation_bytes",
    "peak_activation_bytes",
    "gradient_bytes",
    "optimizer_bytes",
    "train_bytes",
)


def _totals(rows: list[LayerRow], memory) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """Each total over the rows whose value is known, and per total the rows it leaves out (a
    total that leaves rows out is a lower bound: the report says so, never a silent total)."""
    totals: dict[str, Any] = {}
    left_out: dict[str, tuple[str, ...]] = {}
    for key, value_of in _ROW_TOTALS.items():
        totals[key], missing = partial_sum((r.name, value_of(r)) for r in rows)
        if missing:
            left_out[key] = missing
    for key in _MEMORY_TOTALS:
        totals[key] = getattr(memory, key)
        if key in memory.left_out:
            left_out[key] = memory.left_out[key]
    return totals, left_out


def _left_out_warning(left_out: Mapping[str, tuple[str, ...]], shown: int = 8) -> str:
    names = list(dict.fromkeys(name for names in left_out.values() for name in names))
    listed = ", ".join(names[:shown]) + (
        f" and {len(names) - shown} more (JSON: left_out)" if len(names) > shown else ""
    )
    return (
        f"totals are lower bounds (≥) for {', '.join(left_out)}: "
        f"{len(names)} rows with unknown values are not counted: {listed}"
    )


def analyze(
    model: Any,
    input_shape: Any = None,
    *,
    batch: int = 1,
    flops_convention: str = "full",
    padding_aware: bool = False,
    dtype: str = "float32",
    device: str | None = None,
    dataset_size: int | None = None,
    tf32: bool = False,
    trust_model_code: bool = False,
) -> Report:
    """Analyse a model: per-layer shapes, params, MACs, FLOPs, memory, receptive fields.

    model: a `.keras` path (also `.h5`, a SavedModel folder, a JSON config), a live
        `keras.Model` (Functional, Sequential, a Functional subclass, or a subclassed model,
        which is traced), or a `cnncost.ir.Graph`.
    input_shape: override the input size: "256,256,3" (batch unknown), "1x256x256x3", a tuple,
        "a;b" for several inputs in order, or {input name: shape}; `?`/None for an unknown dim.
        Needed to trace a subclassed model that was never built.
    batch: samples per step; MACs, FLOPs and activation bytes are for the whole batch.
    flops_convention: "full" (every multiply and add), "macs", or "tf-profiler" (what
        TensorFlow's profiler reports); `cnncost conventions` lists them.
    padding_aware: count only the taps of a "same"-padded window that land inside the input.
    dtype: a dtype policy for every layer ("mixed_bfloat16", ...); "float32" keeps each layer's.
    device: a device profile ("h200", "a100", ..., a calibrated name or a .json path): adds the
        roofline latency columns and totals.
    dataset_size: samples per epoch (needs `device`): adds steps and time per epoch.
    tf32: with `device`, float32 convs/matmuls at the TF32 tensor-core peak.
    trust_model_code: build a model class a file names (a Functional subclass such as a kimm
        model or a keras-hub backbone) with Keras; this imports and runs that package's code,
        so it is off by default.

    Returns a `Report`: `print(report)` shows the table, `report.to_dict()` is the JSON contract,
    `report.to_dataframe()` a pandas frame. Bad input raises `cnncost.errors.CnnCostError`.
    """
    settings = Options(
        input_shape=input_shape,
        batch=batch,
        flops_convention=flops_convention,
        padding_aware=padding_aware,
        dtype=dtype,
        device=device,
        dataset_size=dataset_size,
        tf32=tf32,
        trust_model_code=trust_model_code,
    )
    return analyze_graph(load_graph(model, settings), settings)


def is_supported(graph: Graph) -> bool:
    return all(rule_for(n) is not None for n in graph.nodes)
