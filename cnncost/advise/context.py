"""What every advice family reads: the model's config, its base analysis, its evaluator."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from cnncost.advise.config_edit import (
    ModelConfig,
    layer_config,
    layer_name,
    refit_nested_inputs,
)
from cnncost.advise.incremental import Evaluator
from cnncost.advise.results import CONV_CLASSES, Metrics, _local_rf, analyse_config, metrics
from cnncost.analysis import Options, analyze_graph
from cnncost.errors import CnnCostError
from cnncost.ir import Graph
from cnncost.loaders.keras_config import graph_from_config
from cnncost.report import Report

POOL_CLASSES = frozenset({"MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"})


@dataclass(frozen=True)
class Context:
    model: ModelConfig
    options: Options
    report: Report
    before: Metrics
    graph: Graph  # parsed once (nodes in topological order)
    evaluator: Evaluator

    @property
    def rank(self) -> int:
        return len(self.before.input_size)

    def evaluate_graph(self, graph: Graph, input_shape: Any = None) -> Metrics | None:
        """Metrics of an edited graph; None when the edited model does not build."""
        return self.evaluate_graph_why(graph, input_shape)[0]

    def evaluate_graph_why(self, graph: Graph, input_shape: Any = None):
        try:
            return self.evaluator.evaluate(graph, input_shape), ""
        except CnnCostError as exc:
            return None, str(exc)

    def top_level_names(self) -> set[str]:
        """Layers of the outer config: the only ones an edit can address by name (a layer of a
        nested model shows up as `outer/inner` and lives in the nested model's config)."""
        return {layer_name(layer) for layer in self.model.layers()}

    def layer_config(self, name: str):
        return layer_config(self.model.config, name)

    def windows(self) -> list[Any]:
        """Rows of top-level conv and pooling layers whose RF is local (global gates such as
        squeeze-and-excitation ignored: they do not move the spatial window)."""
        name = self.report.inputs[0].name
        top = self.top_level_names()
        result = []
        for row in self.report.layers:
            rf = _local_rf((row.extra.get("receptive_field") or {}).get(name))
            if rf is not None and row.type in CONV_CLASSES | POOL_CLASSES and row.name in top:
                result.append(row)
        return result

    def insert_positions(self) -> list[Any]:
        """Rows of the top-level block boundaries (`incremental._cut_nodes`) whose output is a
        local map of the first input: where a layer can be inserted without breaking a merge.
        Of consecutive boundaries with one output shape (conv, BN, activation) the last."""
        name = self.report.inputs[0].name
        cuts = self.evaluator.cuts
        top = self.top_level_names()
        rows = [row for row in self.report.layers if row.name in cuts]
        rank = len(self.report.inputs[0].shape or ())
        found = []
        for index, row in enumerate(rows):
            rf = _local_rf((row.extra.get("receptive_field") or {}).get(name))
            shape = row.output_shapes[0] if row.output_shapes else None
            if rf is None or shape is None or len(shape) != rank or row.name not in top:
                continue
            if row.type == "InputLayer":
                continue
            after = rows[index + 1] if index + 1 < len(rows) else None
            if after is not None and after.output_shapes and after.output_shapes[0] == shape:
                if after.inputs == (row.name,):
                    continue  # a pointwise step follows: insert after it instead
            found.append(row)
        return found


def make_context(model: ModelConfig, options: Options) -> Context:
    graph = graph_from_config(copy.deepcopy(model.config), source=model.source)
    report = analyze_graph(graph, options)
    before = metrics(report, graph)
    if before.flops is None or any(not isinstance(n, int) for n in before.input_size):
        raise CnnCostError("the model's input size is unknown: pass --input-shape")
    return Context(model, options, report, before, graph, Evaluator(graph, options))


def refit_nested(config, context: Context, resized: bool = False):
    """After an edit that changes the shape reaching a nested model, set its input shape to the
    one the edited model feeds it (config_edit.refit_nested_inputs). `resized`: the input size
    is in the config (resize-input), not in the options."""
    layers = config["config"]["layers"]
    nested = [layer_name(layer) for layer in layers if "layers" in layer.get("config", {})]
    if not nested:
        return config
    options = replace(context.options, input_shape=None) if resized else context.options
    rows = {row.name: row for row in analyse_config(config, options).layers}
    feeds = {}
    for name in nested:
        prefix = name + "/"
        first = next((r for r in rows.values() if r.name.startswith(prefix)), None)
        sources = [n for n in (first.inputs if first else ()) if not n.startswith(prefix)]
        if len(sources) == 1 and sources[0] in rows:
            feeds[name] = [None, *rows[sources[0]].output_shapes[0][1:]]
    return refit_nested_inputs(config, feeds)
