"""Advice families other than the receptive-field search: resize to a budget, global pooling,
unproductive layers, dead compute, misaligned merges. Each builds its edit twice, on the Keras
config (what is written) and on the parsed graph (what is evaluated, incrementally)."""

from __future__ import annotations

from cnncost.advise import config_edit
from cnncost.advise.context import CONV_CLASSES, Context
from cnncost.advise.incremental import remove_nodes, replace_node, set_node_fields
from cnncost.advise.results import Metrics, Suggestion, _local_rf

DENSE_SHARE = 0.5  # Flatten+Dense suggested when the dense layer holds more than this share


def resize_input(context: Context, max_flops: int | None, max_params: int | None):
    """The largest input of the same aspect ratio that fits the budgets (binary search)."""
    height, *rest = context.before.input_size
    channels = context.report.inputs[0].shape[-1]

    def at(size: int) -> tuple[tuple[int, ...], Metrics | None]:
        dims = (size, *(max(1, round(n * size / height)) for n in rest))
        shape = ",".join(map(str, (*dims, channels)))
        return dims, context.evaluate_graph(context.graph, shape)

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
    name = context.report.inputs[0].name
    if best is None:
        dims, result = at(valid[0])
        return Suggestion(
            "resize-input",
            f"resize the input to {'x'.join(map(str, dims))} (budget not met)",
            f"no input size meets {budget}: the smallest the model accepts, "
            f"{'x'.join(map(str, dims))}, gives {result.flops:,} FLOPs and {result.params:,} params",
            config_edit.with_input_shape(context.model.config, name, (*dims, channels)),
            None,
            context.before,
            result,
            False,
        )
    dims, result = best
    ratio = ", ".join(f"{c:.2f}" for c in result.coverage) if result.coverage else "unknown"
    return Suggestion(
        "resize-input",
        f"resize the input to {'x'.join(map(str, dims))}",
        f"the largest input of the same aspect ratio with {budget}; the largest receptive field "
        f"then covers {ratio} of the input per axis",
        config_edit.with_input_shape(context.model.config, name, (*dims, channels)),
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


def global_pooling(context: Context) -> list[Suggestion]:
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
        new_name = config_edit.fresh_name(context.model.config, "global_average_pooling")
        layer = {
            "module": "keras.layers",
            "class_name": f"GlobalAveragePooling{rank}D",
            "config": {"name": new_name, "data_format": "channels_last", "keepdims": False},
            "registered_name": None,
        }
        config = config_edit.replace_layer(context.model.config, row.name, layer)
        after = context.evaluate_graph(replace_node(context.graph, row.name, layer))
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


def unproductive(context: Context) -> list[Suggestion]:
    """Kernel > 1 whose input's RF already covers the whole input (rfa_toolbox's criterion)."""
    name = context.report.inputs[0].name
    rows = {row.name: row for row in context.report.layers}
    size = context.before.input_size
    result = []
    for row in context.windows():
        cfg = context.layer_config(row.name)
        kernel = config_edit.as_list(cfg.get("kernel_size", cfg.get("pool_size", 1)), len(size))
        if max(kernel) <= 1 or not row.inputs:
            continue
        rf_in = _local_rf((rows[row.inputs[0]].extra.get("receptive_field") or {}).get(name))
        if rf_in is None or any(r < n for r, n in zip(rf_in["size"], size)):
            continue
        edit = after = None
        if row.type in CONV_CLASSES:
            fields = {"kernel_size": [1] * len(size), "padding": "same"}
            edit = config_edit.set_fields(context.model.config, row.name, **fields)
            after = context.evaluate_graph(set_node_fields(context.graph, row.name, **fields))
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


def dead_compute(context: Context) -> list[Suggestion]:
    result = []
    size = context.before.input_size
    for row in context.windows():
        cfg = context.layer_config(row.name)
        kernel = config_edit.as_list(cfg.get("kernel_size", cfg.get("pool_size", 1)), len(size))
        strides = config_edit.as_list(cfg.get("strides") or kernel, len(size))
        dilation = config_edit.as_list(cfg.get("dilation_rate", 1), len(size))
        effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        if all(s <= e for s, e in zip(strides, effective)):
            continue
        edit = config_edit.set_fields(context.model.config, row.name, strides=effective)
        graph = set_node_fields(context.graph, row.name, strides=effective)
        after, why = context.evaluate_graph_why(graph)
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
    dead = unreachable(context)
    if dead:
        config = config_edit.remove_layers(context.model.config, dead)
        after = context.evaluate_graph(remove_nodes(context.graph, dead))
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


def unreachable(context: Context) -> set[str]:
    """Layers (top-level names) none of whose outputs leads to a model output."""
    if context.model.kind == "Sequential":
        return set()
    graph = context.graph
    needed = {ref.node for ref in graph.outputs}
    for node in reversed(graph.nodes):  # topological
        if node.name in needed:
            needed.update(ref.node for ref in node.inputs)
    top = context.top_level_names()
    return {n.name for n in graph.nodes if n.name not in needed and n.name in top}


def misaligned(context: Context) -> list[Suggestion]:
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
