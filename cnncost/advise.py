"""Suggestions: what-if edits of a model, each re-analysed exactly.

Every suggestion is an edit of the model's *Keras config* (the JSON Keras itself reads), re-parsed
by the one config parser into a new Graph and analysed by the ordinary passes: so the numbers are
exact for the edited model, and the edited config can be written out as a config-only `.keras`
that Keras loads and `reference_model train --model` trains. Edits:

- receptive field (`--target-rf N`): insert 2x2 max pooling after conv/pool layers, raise conv
  strides to 2, or dilate convs; per family the combination (up to `MAX_EDITS` edits) that reaches
  N with the fewest FLOPs, or the closest when none does;
- FLOP / param budgets (`--max-flops`, `--max-params`): the largest input size, with the same
  aspect ratio, that fits, and the RF-to-input ratio it implies;
- Flatten + Dense -> GlobalAveragePooling + Dense where the dense layer holds most params;
- diagnostics: unproductive layers (kernel > 1 whose input's RF already covers the whole input:
  rfa_toolbox's criterion; edit: kernel 1), dead compute (a stride larger than the window skips
  input pixels; layers whose outputs never reach a model output: edit removes them), misaligned
  merges (reported, no edit).

Edits of Sequential models may insert layers; Functional models take in-place edits, removals and
inserted layers rewired by name. `build_config` entries are dropped from written configs so Keras
rebuilds every layer for the new shapes.
"""

from __future__ import annotations

import copy
import itertools
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnncost.analysis import Options, analyze_graph
from cnncost.errors import CnnCostError
from cnncost.loaders.keras_config import graph_from_config
from cnncost.report import Report

MAX_EDITS = 3  # edits combined per receptive-field family
MAX_COMBINATIONS = 400  # combinations analysed per family before giving up on the rest
DENSE_SHARE = 0.5  # Flatten+Dense suggested when the dense layer holds more than this share

CONV_CLASSES = frozenset({"Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D"})
POOL_CLASSES = frozenset({"MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"})


# -- the model as config --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """The Keras config of a model and where it came from (what suggestions edit)."""

    config: Mapping[str, Any]
    metadata: Mapping[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return self.config.get("class_name", "")

    def layers(self) -> list[dict]:
        return self.config["config"]["layers"]


def load_model_config(model: Any) -> ModelConfig:
    """The config of a `.keras` file, a JSON config file, or a live keras.Model."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.suffix == ".json":
            from cnncost.limits import MAX_CONFIG_BYTES, loads_json, read_capped

            data = read_capped(path, MAX_CONFIG_BYTES, "JSON model config")
            return ModelConfig(loads_json(data, str(path)), {}, str(path))
        from cnncost.loaders.keras_file import read_keras_archive

        config, metadata = read_keras_archive(path)
        return ModelConfig(config, metadata, str(path))
    if hasattr(model, "get_config") and hasattr(model, "layers"):
        import keras

        return ModelConfig(keras.saving.serialize_keras_object(model), {}, "live model")
    raise CnnCostError("suggest needs a .keras file, a JSON model config or a keras.Model")


def _strip_build_configs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_build_configs(v) for k, v in value.items() if k != "build_config"}
    if isinstance(value, list):
        return [_strip_build_configs(v) for v in value]
    return value


def write_keras(config: Mapping[str, Any], path: Path, metadata: Mapping[str, Any]) -> Path:
    """A config-only `.keras` zip (config.json + metadata.json) that Keras can load."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(_strip_build_configs(config)))
        archive.writestr("metadata.json", json.dumps(dict(metadata) or {"keras_version": "3"}))
    return path


# -- metrics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    params: Any
    macs: Any
    flops: Any
    peak_activation_bytes: Any
    rf: tuple[int, ...] | None  # largest local receptive field (per axis) of the first input
    input_size: tuple[Any, ...]

    @property
    def coverage(self) -> tuple[float, ...] | None:
        """RF / input size per axis (1.0 = the largest unit sees as much as the whole input)."""
        if self.rf is None or any(not isinstance(n, int) for n in self.input_size):
            return None
        return tuple(r / n for r, n in zip(self.rf, self.input_size))

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "peak_activation_bytes": self.peak_activation_bytes,
            "receptive_field": list(self.rf) if self.rf else None,
            "input_size": list(self.input_size),
            "rf_coverage": [round(c, 4) for c in self.coverage] if self.coverage else None,
        }


def final_rf(report: Report) -> tuple[int, ...] | None:
    """The largest local RF of the first model input: what the last local layer sees."""
    if not report.inputs:
        return None
    name = report.inputs[0].name
    best: tuple[int, ...] | None = None
    for row in report.layers:
        rf = (row.extra.get("receptive_field") or {}).get(name)
        if not rf or rf.get("global") or rf.get("global") is None:
            continue
        size = tuple(rf["size"])
        if best is None or size > best:
            best = size
    return best


def metrics(report: Report) -> Metrics:
    shape = report.inputs[0].shape if report.inputs else ()
    spatial = tuple(shape[1:-1]) if shape else ()
    return Metrics(
        report.exact_total("params"),
        report.exact_total("macs"),
        report.exact_total("flops"),
        report.exact_total("peak_activation_bytes"),
        final_rf(report),
        spatial,
    )


# -- suggestions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    kind: str  # insert-pooling | raise-stride | add-dilation | resize-input | global-pooling | ...
    title: str
    detail: str
    config: Mapping[str, Any] | None  # the edited Keras config; None for a finding with no edit
    input_shape: Any  # the input shape to analyse the edit at (None: the model's)
    before: Metrics
    after: Metrics | None
    meets_target: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "meets_target": self.meets_target,
            "writable": self.config is not None,
            "before": self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
        }


@dataclass(frozen=True)
class Advice:
    model: ModelConfig
    options: Options
    before: Metrics
    suggestions: tuple[Suggestion, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "model": {"source": self.model.source},
            "conventions": {
                "flops": self.options.flops_convention,
                "batch": self.options.batch,
                "input_shape": _shape_text(self.options.input_shape),
            },
            "before": self.before.to_dict(),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "notes": list(self.notes),
        }


def _shape_text(value: Any) -> Any:
    return None if value is None else str(value)


def analyse_config(config: Mapping[str, Any], options: Options, source: str = "") -> Report:
    # No copy: the parser never writes to the config (a deep copy of a config at the caps of
    # cnncost.limits took seconds before the graph caps could refuse it).
    return analyze_graph(graph_from_config(config, source=source), options)


def suggest(
    model: Any,
    target_rf: int | None = None,
    max_flops: int | None = None,
    max_params: int | None = None,
    options: Options | None = None,
) -> Advice:
    """Every applicable suggestion for `model` (see the module docstring)."""
    options = options or Options()
    for name, value in (("target RF", target_rf), ("max FLOPs", max_flops)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise CnnCostError(f"{name} must be a positive integer, not {value!r}")
    if max_params is not None and (not isinstance(max_params, int) or max_params <= 0):
        raise CnnCostError(f"max params must be a positive integer, not {max_params!r}")
    model_config = load_model_config(model)
    report = analyse_config(model_config.config, options, model_config.source)
    before = metrics(report)
    if before.flops is None or any(not isinstance(n, int) for n in before.input_size):
        raise CnnCostError("the model's input size is unknown: pass --input-shape")
    context = _Context(model_config, options, report, before)
    suggestions: list[Suggestion] = []
    notes: list[str] = []
    if target_rf is not None:
        if before.rf is not None and min(before.rf) >= target_rf:
            notes.append(f"the receptive field {before.rf} already reaches {target_rf}")
        else:
            for family in (_insert_pooling, _raise_stride, _add_dilation):
                found = family(context, target_rf)
                if found is not None:
                    suggestions.append(found)
    if max_flops is not None or max_params is not None:
        found = _resize_input(context, max_flops, max_params)
        if found is not None:
            suggestions.append(found)
    suggestions.extend(_global_pooling(context))
    suggestions.extend(_unproductive(context))
    suggestions.extend(_dead_compute(context))
    suggestions.extend(_misaligned(context))
    suggestions = [_refit_nested_inputs(s, context) for s in suggestions]
    return Advice(model_config, options, before, tuple(suggestions), tuple(notes))


@dataclass(frozen=True)
class _Context:
    model: ModelConfig
    options: Options
    report: Report
    before: Metrics

    def evaluate(self, config: Mapping[str, Any], options: Options | None = None) -> Metrics | None:
        """Metrics of an edited config; None when the edited model does not build."""
        return self.evaluate_why(config, options)[0]

    def evaluate_why(
        self, config: Mapping[str, Any], options: Options | None = None
    ) -> tuple[Metrics | None, str]:
        """Metrics of an edited config, or None and why the edited model does not build."""
        try:
            return metrics(analyse_config(config, options or self.options)), ""
        except CnnCostError as exc:
            return None, str(exc)

    def top_level_names(self) -> set[str]:
        """Layers of the outer config: the only ones an edit can address by name (a layer of a
        nested model shows up as `outer/inner` and lives in the nested model's config)."""
        return {_layer_name(layer) for layer in self.model.layers()}

    def row_types(self) -> dict[str, str]:
        return {row.name: row.type for row in self.report.layers}


# -- config edits ---------------------------------------------------------------------------------


def _layer_name(layer: Mapping[str, Any]) -> str:
    return layer.get("name") or layer.get("config", {}).get("name")


def _layer_index(config: Mapping[str, Any], name: str) -> int:
    for index, layer in enumerate(config["config"]["layers"]):
        if _layer_name(layer) == name:
            return index
    raise CnnCostError(f"no layer named {name!r} in the config")


def _set_field(config: dict, name: str, **fields: Any) -> dict:
    edited = copy.deepcopy(config)
    layer = edited["config"]["layers"][_layer_index(edited, name)]
    layer["config"].update(fields)
    return edited


def _fresh_name(config: Mapping[str, Any], base: str) -> str:
    used = {name for layer in config["config"]["layers"] for name in _names_in(layer)}
    for k in itertools.count(1):
        candidate = f"{base}_{k}"
        if candidate not in used:
            return candidate
    raise AssertionError  # pragma: no cover


def _names_in(layer: Mapping[str, Any]) -> set[str]:
    """The layer's name and those of the layers of a nested model it holds (Keras wants names
    unique across the whole model)."""
    names = {_layer_name(layer)}
    for inner in layer.get("config", {}).get("layers") or []:
        if isinstance(inner, dict):
            names |= _names_in(inner)
    return names


def _rename_references(value: Any, old: str, new: str) -> Any:
    """Point every reference to layer `old` (keras_history, output_layers) at `new`."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "keras_history" and isinstance(item, list) and item and item[0] == old:
                result[key] = [new, *item[1:]]
            else:
                result[key] = _rename_references(item, old, new)
        return result
    if isinstance(value, list):
        if len(value) == 3 and value[0] == old and all(isinstance(v, int) for v in value[1:]):
            return [new, *value[1:]]
        return [_rename_references(v, old, new) for v in value]
    return value


def _insert_after(config: dict, name: str, new_layer: dict) -> dict:
    """`new_layer` right after layer `name`, its consumers rewired (Functional) or not needed."""
    edited = copy.deepcopy(config)
    layers = edited["config"]["layers"]
    index = _layer_index(edited, name)
    new_name = new_layer["config"]["name"]
    if edited.get("class_name") == "Sequential":
        layers.insert(index + 1, new_layer)
        return edited
    # Keras 3 rebuilds each inbound tensor from its recorded shape and dtype: copy them from a
    # consumer's reference to `name` (made before the edit; Keras reads only rank and dtype)
    tensor = _tensor_reference(layers, name) or {"shape": None, "dtype": "float32"}
    rewired = [_rename_references(layer, name, new_name) for layer in layers]
    outer = {k: v for k, v in edited["config"].items() if k != "layers"}
    outer = _rename_references(outer, name, new_name)
    new_layer = {
        **new_layer,
        "name": new_name,  # Keras 3 Functional configs name each entry at its top level
        "inbound_nodes": [
            {
                "args": [
                    {
                        "class_name": "__keras_tensor__",
                        "config": {**tensor, "keras_history": [name, 0, 0]},
                    }
                ],
                "kwargs": {},
            }
        ],
    }
    rewired.insert(index + 1, new_layer)
    edited["config"] = {**outer, "layers": rewired}
    return edited


def _tensor_reference(value: Any, name: str) -> dict | None:
    """The shape/dtype recorded with the first `__keras_tensor__` that references layer `name`."""
    if isinstance(value, dict):
        history = value.get("keras_history")
        if isinstance(history, list) and history and history[0] == name:
            return {k: v for k, v in value.items() if k != "keras_history"}
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _tensor_reference(item, name)
        if found is not None:
            return found
    return None


def _pool_layer(config: Mapping[str, Any], rank: int) -> dict:
    return {
        "module": "keras.layers",
        "class_name": f"MaxPooling{rank}D",
        "config": {
            "name": _fresh_name(config, "max_pooling_inserted"),
            "pool_size": [2] * rank,
            "strides": [2] * rank,
            "padding": "valid",
            "data_format": "channels_last",
        },
        "registered_name": None,
    }


def _spatial_rank(context: _Context) -> int:
    return len(context.before.input_size)


def _windows(context: _Context) -> list[Any]:
    """Rows of conv and pooling layers whose RF is local (before any global layer)."""
    name = context.report.inputs[0].name
    top = context.top_level_names()
    result = []
    for row in context.report.layers:
        rf = (row.extra.get("receptive_field") or {}).get(name)
        if rf and rf.get("global") is False and row.type in CONV_CLASSES | POOL_CLASSES:
            if row.name in top:  # layers of nested models are not edited (see top_level_names)
                result.append(row)
    return result


def _best(
    context: _Context,
    target: int,
    candidates: list[tuple[str, Callable[[dict], dict]]],
    kind: str,
    noun: str,
    allow_repeat: bool,
) -> Suggestion | None:
    """The combination of up to MAX_EDITS candidate edits that reaches `target` with fewest FLOPs."""
    if not candidates:
        return None
    best_hit: tuple[Any, list[str], dict, Metrics] | None = None
    closest: tuple[Any, list[str], dict, Metrics] | None = None
    analysed = 0
    for count in range(1, MAX_EDITS + 1):
        combos = (
            itertools.combinations_with_replacement(candidates, count)
            if allow_repeat
            else itertools.combinations(candidates, count)
        )
        for combo in combos:
            if analysed >= MAX_COMBINATIONS:
                break
            layers = [_edited_layer(label) for label, _ in combo]
            if not allow_repeat and len(set(layers)) < len(layers):
                continue  # one rate / stride per layer
            config = copy.deepcopy(dict(context.model.config))
            for _, edit in combo:
                config = edit(config)
            analysed += 1
            result = context.evaluate(config)
            if result is None or result.rf is None or result.flops is None:
                continue
            labels = [label for label, _ in combo]
            if min(result.rf) >= target:
                if best_hit is None or result.flops < best_hit[0]:
                    best_hit = (result.flops, labels, config, result)
            elif closest is None or (min(result.rf), -result.flops) > (
                min(closest[3].rf),
                -closest[0],
            ):
                closest = (result.flops, labels, config, result)
    chosen = best_hit or closest
    if chosen is None:
        return None
    _, labels, config, result = chosen
    met = best_hit is not None
    detail = (
        f"{', '.join(labels)}: reaches RF {'x'.join(map(str, result.rf))} "
        f"(target {target}) with the fewest FLOPs of the {analysed} combinations of up to "
        f"{MAX_EDITS} edits tried"
        if met
        else f"no combination of up to {MAX_EDITS} edits ({analysed} tried) reaches RF {target}; "
        f"the closest, {', '.join(labels)}, gives RF {'x'.join(map(str, result.rf))}"
    )
    return Suggestion(
        kind,
        f"{noun} ({len(labels)} edit{'s' if len(labels) > 1 else ''})",
        detail,
        config,
        None,
        context.before,
        result,
        met,
    )


def _edited_layer(label: str) -> str:
    """The layer a candidate edit label names ("... in NAME" / "... after NAME")."""
    return label.rsplit(" ", 1)[-1]


def _insert_pooling(context: _Context, target: int) -> Suggestion | None:
    rank = _spatial_rank(context)
    candidates = []
    for row in _windows(context):

        def edit(config: dict, name=row.name) -> dict:
            return _insert_after(config, name, _pool_layer(config, rank))

        candidates.append((f"2x2 max pooling after {row.name}", edit))
    return _best(context, target, candidates, "insert-pooling", "insert pooling", True)


def _conv_config(context: _Context, name: str) -> Mapping[str, Any]:
    return context.model.config["config"]["layers"][_layer_index(context.model.config, name)][
        "config"
    ]


def _raise_stride(context: _Context, target: int) -> Suggestion | None:
    rank = _spatial_rank(context)
    candidates = []
    for row in _windows(context):
        if row.type not in CONV_CLASSES:
            continue
        cfg = _conv_config(context, row.name)
        if _as_list(cfg.get("strides", 1), rank) != [1] * rank:
            continue
        if _as_list(cfg.get("dilation_rate", 1), rank) != [1] * rank:
            continue  # Keras refuses strides > 1 with dilation > 1

        def edit(config: dict, name=row.name) -> dict:
            return _set_field(config, name, strides=[2] * rank)

        candidates.append((f"stride 2 in {row.name}", edit))
    return _best(context, target, candidates, "raise-stride", "raise stride", False)


def _add_dilation(context: _Context, target: int) -> Suggestion | None:
    rank = _spatial_rank(context)
    candidates = []
    for row in _windows(context):
        if row.type not in CONV_CLASSES:
            continue
        cfg = _conv_config(context, row.name)
        if _as_list(cfg.get("strides", 1), rank) != [1] * rank:
            continue
        if max(_as_list(cfg.get("kernel_size", 1), rank)) <= 1:
            continue
        for rate in (2, 4):

            def edit(config: dict, name=row.name, rate=rate) -> dict:
                return _set_field(config, name, dilation_rate=[rate] * rank)

            candidates.append((f"dilation {rate} in {row.name}", edit))
    return _best(context, target, candidates, "add-dilation", "add dilation", False)


def _as_list(value: Any, rank: int) -> list[int]:
    return [value] * rank if isinstance(value, int) else list(value)


def _resize_input(context: _Context, max_flops: int | None, max_params: int | None):
    """The largest input of the same aspect ratio that fits the budgets (binary search)."""
    height, *rest = context.before.input_size
    shape = context.report.inputs[0].shape
    channels = shape[-1]

    def at(size: int) -> tuple[tuple[int, ...], Metrics | None]:
        dims = (size, *(max(1, round(n * size / height)) for n in rest))
        options = replace(context.options, input_shape=",".join(map(str, (*dims, channels))))
        return dims, context.evaluate(context.model.config, options)

    def fits(result: Metrics | None) -> bool:
        return (
            result is not None
            and (max_flops is None or result.flops <= max_flops)
            and (max_params is None or result.params <= max_params)
        )

    valid = _bisect_valid(range(1, height + 1), at)  # a range: O(1) memory for any height
    if not valid:
        return None
    low, high, best = valid[0], height, None
    while low <= high:  # FLOPs and Flatten+Dense params never fall as the input grows
        middle = (low + high) // 2
        dims, result = at(middle)
        if fits(result):
            best = (dims, result)
            low = middle + 1
        else:
            high = middle - 1
    budget = " and ".join(
        text
        for text in (
            f"FLOPs <= {max_flops:,}" if max_flops else "",
            f"params <= {max_params:,}" if max_params else "",
        )
        if text
    )
    config = _with_input_shape(context, None)
    if best is None:
        dims, result = at(valid[0])
        return Suggestion(
            "resize-input",
            f"resize the input to {'x'.join(map(str, dims))} (budget not met)",
            f"no input size meets {budget}: the smallest the model accepts, "
            f"{'x'.join(map(str, dims))}, gives {result.flops:,} FLOPs and {result.params:,} params",
            _with_input_shape(context, (*dims, channels)),
            None,
            context.before,
            result,
            False,
        )
    dims, result = best
    config = _with_input_shape(context, (*dims, channels))
    ratio = ", ".join(f"{c:.2f}" for c in result.coverage) if result.coverage else "unknown"
    return Suggestion(
        "resize-input",
        f"resize the input to {'x'.join(map(str, dims))}",
        f"the largest input of the same aspect ratio with {budget}; the largest receptive field "
        f"then covers {ratio} of the input per axis",
        config,
        None,
        context.before,
        result,
        True,
    )


def _bisect_valid(sizes: range, at) -> range:
    """Sizes from the smallest one at which the model builds (validity is monotone)."""
    low, high = 0, len(sizes) - 1
    if at(sizes[high])[1] is None:
        return []
    while low < high:
        middle = (low + high) // 2
        if at(sizes[middle])[1] is None:
            low = middle + 1
        else:
            high = middle
    return sizes[low:]


def _with_input_shape(context: _Context, dims: tuple[int, ...] | None) -> dict:
    config = copy.deepcopy(dict(context.model.config))
    if dims is None:
        return config
    name = context.report.inputs[0].name
    index = _layer_index(config, name)
    config["config"]["layers"][index]["config"]["batch_shape"] = [None, *dims]
    return config


def _refit_nested_inputs(suggestion: Suggestion, context: _Context) -> Suggestion:
    """Nested models keep the input shape they were built with (their InputLayer's batch_shape,
    their build_input_shape), and Keras refuses a call at any other shape: after an edit that
    changes the shape reaching a nested model (a resized input, an inserted pooling), set it to
    the shape the edited model feeds it."""
    if suggestion.config is None:
        return suggestion
    layers = suggestion.config["config"]["layers"]
    nested = [i for i, layer in enumerate(layers) if "layers" in layer.get("config", {})]
    if not nested:
        return suggestion
    options = context.options
    if suggestion.kind == "resize-input":
        options = replace(options, input_shape=None)  # the size is in the config
    rows = {row.name: row for row in analyse_config(suggestion.config, options).layers}
    config = copy.deepcopy(dict(suggestion.config))
    for index in nested:
        layer = config["config"]["layers"][index]
        prefix = _layer_name(layer) + "/"
        first = next((r for r in rows.values() if r.name.startswith(prefix)), None)
        feeds = [n for n in (first.inputs if first else ()) if not n.startswith(prefix)]
        if len(feeds) != 1 or feeds[0] not in rows:
            continue
        shape = [None, *rows[feeds[0]].output_shapes[0][1:]]
        inner = layer["config"]
        if "build_input_shape" in inner:
            inner["build_input_shape"] = shape
        for entry in inner["layers"]:
            if entry.get("class_name") == "InputLayer":
                entry["config"]["batch_shape"] = shape
    return replace(suggestion, config=config)


def _global_pooling(context: _Context) -> list[Suggestion]:
    rows = {row.name: row for row in context.report.layers}
    total = context.before.params or 0
    result = []
    top = context.top_level_names()
    for row in context.report.layers:
        if row.type != "Flatten" or not total or row.name not in top:
            continue
        consumers = [r for r in context.report.layers if row.name in r.inputs]
        dense = [r for r in consumers if r.type == "Dense"]
        if not dense or (dense[0].params or 0) <= DENSE_SHARE * total:
            continue
        source = rows[row.inputs[0]] if row.inputs else None
        rank = len(source.output_shapes[0]) - 2 if source else 2
        config = copy.deepcopy(dict(context.model.config))
        index = _layer_index(config, row.name)
        new_name = _fresh_name(config, "global_average_pooling")
        config["config"]["layers"][index] = {
            "module": "keras.layers",
            "class_name": f"GlobalAveragePooling{rank}D",
            "config": {"name": new_name, "data_format": "channels_last", "keepdims": False},
            "registered_name": None,
            **({"name": new_name} if "name" in config["config"]["layers"][index] else {}),
            **(
                {"inbound_nodes": config["config"]["layers"][index]["inbound_nodes"]}
                if "inbound_nodes" in config["config"]["layers"][index]
                else {}
            ),
        }
        config = _rename_references(config, row.name, new_name)
        after = context.evaluate(config)
        if after is None:
            continue
        share = dense[0].params / total
        result.append(
            Suggestion(
                "global-pooling",
                f"replace {row.name} by global average pooling",
                f"{dense[0].name} holds {dense[0].params:,} of {total:,} params ({share:.0%}); "
                f"after global pooling it has {after.params - (total - dense[0].params):,}: "
                f"{total - after.params:,} params fewer, and the model accepts any input size",
                config,
                None,
                context.before,
                after,
            )
        )
    return result


def _unproductive(context: _Context) -> list[Suggestion]:
    """Kernel > 1 whose input's RF already covers the whole input (rfa_toolbox's criterion)."""
    name = context.report.inputs[0].name
    rows = {row.name: row for row in context.report.layers}
    size = context.before.input_size
    result = []
    for row in _windows(context):
        cfg = _conv_config(context, row.name)
        kernel = _as_list(cfg.get("kernel_size", cfg.get("pool_size", 1)), len(size))
        if max(kernel) <= 1 or not row.inputs:
            continue
        rf_in = (rows[row.inputs[0]].extra.get("receptive_field") or {}).get(name)
        if not rf_in or rf_in.get("global") is not False:
            continue
        if any(r < n for r, n in zip(rf_in["size"], size)):
            continue
        edit = None
        after = None
        if row.type in CONV_CLASSES:
            edit = _set_field(
                dict(context.model.config), row.name, kernel_size=[1] * len(size), padding="same"
            )
            after = context.evaluate(edit)
        result.append(
            Suggestion(
                "unproductive-layer",
                f"{row.name}: kernel {'x'.join(map(str, kernel))} adds no receptive field",
                f"its input already sees {'x'.join(map(str, rf_in['size']))} pixels, the whole "
                f"{'x'.join(map(str, size))} input: a larger kernel cannot see more"
                + ("; the edit uses a 1x1 kernel" if edit else ""),
                edit if after is not None else None,
                None,
                context.before,
                after,
            )
        )
    return result


def _dead_compute(context: _Context) -> list[Suggestion]:
    result = []
    size = context.before.input_size
    for row in _windows(context):
        cfg = _conv_config(context, row.name)
        kernel = _as_list(cfg.get("kernel_size", cfg.get("pool_size", 1)), len(size))
        strides = _as_list(cfg.get("strides") or kernel, len(size))
        dilation = _as_list(cfg.get("dilation_rate", 1), len(size))
        effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        if all(s <= e for s, e in zip(strides, effective)):
            continue
        edit = _set_field(dict(context.model.config), row.name, strides=effective)
        after, why = context.evaluate_why(edit)
        # e.g. ResNet's 1x1 stride-2 convs: stride 1 there doubles the side of one branch of an
        # Add and the merge no longer builds; the finding stands, the edit is not offered
        remedy = (
            "the edit sets the stride to the window"
            if after is not None
            else f"no edit: stride {'x'.join(map(str, effective))} there breaks the model ({why})"
        )
        result.append(
            Suggestion(
                "dead-compute",
                f"{row.name}: stride {'x'.join(map(str, strides))} skips input pixels",
                f"window {'x'.join(map(str, effective))} with stride "
                f"{'x'.join(map(str, strides))}: the pixels between windows are computed by the "
                f"layers before and never read; {remedy}",
                edit if after is not None else None,
                None,
                context.before,
                after,
            )
        )
    dead = _unreachable(context)
    if dead:
        config = copy.deepcopy(dict(context.model.config))
        config["config"]["layers"] = [
            layer for layer in config["config"]["layers"] if _layer_name(layer) not in dead
        ]
        after = context.evaluate(config)
        result.append(
            Suggestion(
                "dead-compute",
                f"{len(dead)} layers never reach an output",
                f"{', '.join(sorted(dead))}: their results are computed and discarded; "
                "the edit removes them",
                config if after is not None else None,
                None,
                context.before,
                after,
            )
        )
    return result


def _unreachable(context: _Context) -> set[str]:
    """Layers (top-level names) none of whose outputs leads to a model output."""
    if context.model.kind == "Sequential":
        return set()
    graph = graph_from_config(copy.deepcopy(dict(context.model.config)))
    needed = {ref.node for ref in graph.outputs}
    for node in reversed(graph.nodes):
        if node.name in needed:
            needed.update(ref.node for ref in node.inputs)
    top = context.top_level_names()
    return {n.name for n in graph.nodes if n.name not in needed and n.name in top}


def _misaligned(context: _Context) -> list[Suggestion]:
    result = []
    for warning in context.report.warnings:
        if "misaligned merge" in warning:
            result.append(
                Suggestion(
                    "misaligned-merge",
                    warning.split(":", 1)[0] + ": misaligned merge",
                    warning,
                    None,
                    None,
                    context.before,
                    None,
                )
            )
    return result


def write_suggestions(advice: Advice, directory: str | Path) -> list[Path]:
    """Each editable suggestion as `<model>-<n>-<kind>.keras` in `directory`."""
    directory = Path(directory)
    stem = Path(advice.model.source).stem or "model"
    written = []
    for number, suggestion in enumerate(advice.suggestions, 1):
        if suggestion.config is None:
            continue
        path = directory / f"{stem}-{number}-{suggestion.kind}.keras"
        written.append(write_keras(suggestion.config, path, advice.model.metadata))
    return written
