"""What `suggest` reports: the metrics of a model (before/after an edit), suggestions, advice.

`Metrics` are read off a full `Report` (`metrics`) or computed incrementally
(`cnncost.advise.incremental`); both must agree exactly (tests/advise/test_incremental.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnncost.advise.config_edit import ModelConfig
from cnncost.analysis import Options, analyze_graph
from cnncost.ir import Graph, Node
from cnncost.loaders.keras_config import graph_from_config
from cnncost.report import Report


@dataclass(frozen=True)
class Metrics:
    params: Any
    macs: Any
    flops: Any
    peak_activation_bytes: Any
    rf: tuple[int, ...] | None  # largest local receptive field (per axis) of the first input
    input_size: tuple[Any, ...]
    # spatial size of the last layer whose output is still a map over the first input (the
    # feature map the head reads: ResNet50 at 224x224 -> (7, 7)); None when there is none
    final_feature_map: tuple[int, ...] | None = None
    # stages (jumps of the first input's maps) at which no conv with a kernel > 1 works: each is
    # a downsampling followed by another with nothing learned between them
    idle_stages: int | None = None

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
            "final_feature_map": (
                list(self.final_feature_map) if self.final_feature_map is not None else None
            ),
            "idle_stages": self.idle_stages,
        }


def _local_rf(rf: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The local RF of a row value: itself when local, its `local` part when only global gates
    (squeeze-and-excitation, normalisation statistics) make it global; None for Global/Unknown."""
    if not rf or rf.get("global") is None:
        return None
    if rf.get("global") is False:
        return rf
    return rf.get("local")


def final_rf(report: Report) -> tuple[int, ...] | None:
    """The largest local RF of the first model input: what the last local layer sees (global
    gates ignored: an SE block's channel weights do not move the spatial window)."""
    if not report.inputs:
        return None
    name = report.inputs[0].name
    best: tuple[int, ...] | None = None
    for row in report.layers:
        rf = _local_rf((row.extra.get("receptive_field") or {}).get(name))
        if rf is None:
            continue
        size = tuple(rf["size"])
        if best is None or size > best:
            best = size
    return best


def final_feature_map(report: Report) -> tuple[int, ...] | None:
    """Spatial size of the last layer (file order = topological) with a local RF."""
    if not report.inputs:
        return None
    name = report.inputs[0].name
    rank = len(report.inputs[0].shape or ()) - 2
    found = None
    for row in report.layers:
        rf = _local_rf((row.extra.get("receptive_field") or {}).get(name))
        shape = row.output_shapes[0] if row.output_shapes else None
        if rf is not None and shape is not None and len(shape) == rank + 2:
            found = tuple(shape[1:-1])
    return found


CONV_CLASSES = frozenset({"Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D"})


def works_spatially(node: Node) -> bool:
    """A conv with a kernel larger than 1 on some axis (what learns spatial structure)."""
    if node.class_name not in CONV_CLASSES:
        return False
    kernel = node.config.get("kernel_size", 1)
    return max([kernel] if isinstance(kernel, int) else list(kernel)) > 1


def count_idle(levels: set, worked: set, final: Any) -> int:
    """Stages (jumps: input pixels between neighbouring units) of the first input's maps, the
    final one excepted, that no spatial conv reads: a downsampling followed by another with
    nothing learned between them."""
    return len(levels - worked - {final})


def _idle_from_report(report: Report, graph: Graph) -> int | None:
    if not report.inputs or report.inputs[0].shape is None:
        return None
    name = report.inputs[0].name
    rows = {row.name: row for row in report.layers}
    levels, worked = set(), set()
    final = None
    for node in graph.nodes:
        rf = _local_rf((rows[node.name].extra.get("receptive_field") or {}).get(name))
        if rf is not None:
            levels.add(tuple(rf["jump"]))
            final = tuple(rf["jump"])
        if works_spatially(node) and node.inputs:
            source = _local_rf(
                (rows[node.inputs[0].node].extra.get("receptive_field") or {}).get(name)
            )
            if source is not None:
                worked.add(tuple(source["jump"]))
    return count_idle(levels, worked, final)


def metrics(report: Report, graph: Graph | None = None) -> Metrics:
    """The metrics of a full report (`graph`: the analysed graph, for `idle_stages`)."""
    shape = report.inputs[0].shape if report.inputs else ()
    spatial = tuple(shape[1:-1]) if shape else ()
    return Metrics(
        report.exact_total("params"),
        report.exact_total("macs"),
        report.exact_total("flops"),
        report.exact_total("peak_activation_bytes"),
        final_rf(report),
        spatial,
        final_feature_map(report),
        None if graph is None else _idle_from_report(report, graph),
    )


def analyse_config(config: Mapping[str, Any], options: Options, source: str = "") -> Report:
    """The full analysis of a config (parse + every pass): the reference for every edit."""
    # No copy: the parser never writes to the config (a deep copy of a config at the caps of
    # cnncost.limits took seconds before the graph caps could refuse it).
    return analyze_graph(graph_from_config(config, source=source), options)


@dataclass(frozen=True)
class Suggestion:
    kind: (
        str  # insert-pooling | raise-stride | add-dilation | add-conv | mixed | resize-input | ...
    )
    title: str
    detail: str
    config: Mapping[str, Any] | None  # the edited Keras config; None for a finding with no edit
    input_shape: Any  # the input shape to analyse the edit at (None: the model's)
    before: Metrics
    after: Metrics | None
    meets_target: bool = True
    ranking: Mapping[str, Any] | None = None  # target-RF options: rank, score and its terms

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "meets_target": self.meets_target,
            "writable": self.config is not None,
            "before": self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
        }
        if self.ranking is not None:
            data["ranking"] = dict(self.ranking)
        return data


@dataclass(frozen=True)
class Advice:
    model: ModelConfig
    options: Options
    before: Metrics
    suggestions: tuple[Suggestion, ...]
    notes: tuple[str, ...] = field(default=())
    objective: Mapping[str, Any] | None = None  # how target-RF options were ranked
    searched: int = 0  # edit combinations evaluated for the target RF

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "model": {"source": self.model.source},
            "conventions": {
                "flops": self.options.flops_convention,
                "batch": self.options.batch,
                "input_shape": None
                if self.options.input_shape is None
                else str(self.options.input_shape),
            },
            "before": self.before.to_dict(),
            "objective": None if self.objective is None else dict(self.objective),
            "combinations_evaluated": self.searched,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "notes": list(self.notes),
        }
