"""The receptive-field search: edit combinations, the objective that ranks them, a Pareto set.

Edits (`Edit`, one layer each; combinations of up to `MAX_EDITS`, kinds mixed):

- `pool`: a 2x2 max pooling (stride 2) inserted at a block boundary;
- `stride`: stride 2 in a stride-1, undilated conv with a kernel > 1;
- `dilation`: dilation 2 or 4 in a stride-1 conv with a kernel > 1;
- `conv`: a 3x3 "same" conv + ReLU of the same width inserted at a block boundary (one more
  block of depth at that stage: RF + 2 x the stage's jump, resolution unchanged);
- `stage`: a `pool` followed by a `conv` at a block boundary (counts as 2 edits).

A block boundary is a layer after which no later layer reads an earlier one (every layer of a
plain chain; a residual block's output, not a layer inside its branches, where a pooling would
break the merge), of a pointwise chain (conv, BN, activation) the last.

Search: a beam search over combinations. Depth 1 evaluates every single edit; each further depth
extends by every edit the `BEAM` best combinations that do not yet reach the target (and the
`PER_KIND` best of each set of edit kinds, `DIVERSE` at most, for diversity). A combination
that reaches the target is not extended (more edits only move it further from the target). Each
combination is evaluated exactly and incrementally (`incremental.Evaluator`, ~0.3 ms on ResNet50).

Objective "least change" (lower is better), in halvings (log2 units):

    score = overshoot + resolution + compute + params + idle + pile + EDIT_COST * edits
            (+ SHORTFALL * missing)

- overshoot  = log2(RF / target): 0 when the RF lands on the target, 1 when it is twice the target;
- resolution = mean over axes of log2(final map before / after): each halving of the final
  feature map costs 1 (a map kept as large as the target allows costs 0);
- compute    = |log2(FLOPs after / before)|: changing the work either way is a change;
- params     = PARAMS_WEIGHT * |log2(params after / before)|: so is changing the capacity;
- idle       = stages added at which no conv with a kernel > 1 works (downsamplings piled up with
  nothing learned between them: pools straight after pools; the final stage is not counted);
- pile       = downsampling edits (pool, stride) beyond the first in one stage of the model
  (stage: the jump at the edited layer before the edit): downsampling spread across stages
  costs 0, two poolings after one layer cost 1;
- edits      = number of edits, EDIT_COST each (the least edit wins ties);
- missing    = log2(target / RF) for a combination short of the target, SHORTFALL each.

Guards: an option whose RF exceeds `RF_LIMIT` x max(target, input side) ("many times the input")
or whose final feature map collapses to 1 on every axis (from more than 1) is shown only when no
other option reaches the target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cnncost.advise import config_edit
from cnncost.advise.incremental import Evaluator, insert_node_after, set_node_fields
from cnncost.advise.results import CONV_CLASSES, Metrics
from cnncost.errors import CnnCostError
from cnncost.ir import Graph

POOL_CLASSES = frozenset({"MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"})

MAX_EDITS = 3  # edits combined per option
BEAM = 6  # combinations short of the target extended at each depth
PER_KIND = 1  # and the best of each set of edit kinds,
DIVERSE = 6  # up to this many more
FULL_BUDGET = 300  # evaluations when the model is evaluated by full re-analysis (nested models)
EDIT_COST = 0.25
PARAMS_WEIGHT = 0.5
SHORTFALL = 4.0
RF_LIMIT = 2.0
PARETO_SHOWN = 5  # options shown: the best, then other Pareto-optimal ones
PARETO_POOL = 200  # the best-scored options the Pareto set is taken from

OBJECTIVE = {
    "name": "least-change",
    "score": "overshoot + resolution + compute + params + idle + pile + 0.25 * edits "
    "(lower is better)",
    "terms": {
        "overshoot": "log2(RF / target): how far past the target the RF lands",
        "resolution": "log2(final feature map before / after), mean over axes",
        "compute": "|log2(FLOPs after / before)|",
        "params": "0.5 * |log2(params after / before)|",
        "idle": "stages added where no conv with a kernel > 1 works (piled-up downsampling)",
        "pile": "downsampling edits beyond the first in one stage of the model",
        "edits": "number of edits (a stage counts 2)",
    },
    "guards": (
        f"RF > {RF_LIMIT:g} x max(target, input side), or a final feature map collapsed to 1x1: "
        "shown only when nothing else reaches the target"
    ),
    "pareto": "the others shown are Pareto-optimal in (RF closest above the target, FLOPs, "
    "final feature-map area)",
}

FAMILY = {
    "pool": "insert-pooling",
    "stride": "raise-stride",
    "dilation": "add-dilation",
    "conv": "add-conv",
    "stage": "add-stage",
}


@dataclass(frozen=True, order=True)
class Edit:
    """One edit of one layer (see the module docstring)."""

    layer: str
    kind: str  # pool | stride | dilation | conv | stage
    value: int = 2  # the dilation rate; the filters of an inserted conv

    @property
    def label(self) -> str:
        if self.kind == "pool":
            return f"2x2 max pooling after {self.layer}"
        if self.kind == "stride":
            return f"stride 2 in {self.layer}"
        if self.kind == "dilation":
            return f"dilation {self.value} in {self.layer}"
        if self.kind == "stage":
            return f"a stage after {self.layer}: 2x2 max pooling + 3x3 conv ({self.value} filters)"
        return f"3x3 conv ({self.value} filters) after {self.layer}"

    @property
    def in_layer(self) -> bool:
        return self.kind in ("stride", "dilation")

    @property
    def downsamples(self) -> bool:
        return self.kind in ("pool", "stride", "stage")

    @property
    def size(self) -> int:
        """Edits it counts for (a stage is a pooling and a conv)."""
        return 2 if self.kind == "stage" else 1

    def _inserted(self) -> tuple[str, ...]:
        """What it inserts after the layer, in order (nothing for an in-layer edit)."""
        return {"pool": ("pool",), "conv": ("conv",), "stage": ("pool", "conv")}.get(self.kind, ())

    def _layer(self, what: str, config: Mapping[str, Any], rank: int) -> dict:
        if what == "pool":
            return config_edit.pool_layer(config, rank)
        return config_edit.conv_layer(config, rank, self.value)

    def fields(self, rank: int) -> dict[str, Any]:
        if self.kind == "stride":
            return {"strides": [2] * rank}
        return {"dilation_rate": [self.value] * rank}

    def on_config(self, config: Mapping[str, Any], rank: int) -> dict:
        if self.in_layer:
            return config_edit.set_fields(config, self.layer, **self.fields(rank))
        for what in reversed(self._inserted()):  # each lands right after the layer
            config = config_edit.insert_after(config, self.layer, self._layer(what, config, rank))
        return config

    def on_graph(self, graph: Graph, rank: int, names: set[str]) -> Graph:
        if self.in_layer:
            return set_node_fields(graph, self.layer, **self.fields(rank))
        for what in reversed(self._inserted()):
            new = self._layer(what, _NO_LAYERS, rank)
            base = new["config"]["name"].rsplit("_", 1)[0]
            k = 1
            while f"{base}_{k}" in names:
                k += 1
            new["config"]["name"] = f"{base}_{k}"
            names.add(new["config"]["name"])
            graph = insert_node_after(graph, self.layer, new)
        return graph


_NO_LAYERS: Mapping[str, Any] = {"config": {"layers": []}}


def apply_to_config(edits: Sequence[Edit], config: Mapping[str, Any], rank: int) -> dict:
    for edit in edits:
        config = edit.on_config(config, rank)
    return dict(config)


def apply_to_graph(edits: Sequence[Edit], graph: Graph, rank: int) -> Graph:
    names = {node.name for node in graph.nodes}
    for edit in edits:
        graph = edit.on_graph(graph, rank, names)
    return graph


def compatible(edits: Sequence[Edit]) -> bool:
    """At most one in-layer edit (stride or dilation: Keras refuses both) and one inserted conv
    per layer; pools and stages may repeat."""
    seen = set()
    for edit in edits:
        if edit.kind in ("pool", "stage"):
            continue
        key = (edit.layer, edit.in_layer)
        if key in seen:
            return False
        seen.add(key)
    return True


def candidate_edits(
    windows: Sequence[Any], configs: Mapping[str, Mapping], rank: int, positions: Sequence[Any]
) -> list:
    """Every single edit: in-layer edits of the window layers (report rows of top-level conv
    layers with a local receptive field; `configs` their Keras configs), inserted layers after
    the `positions` (report rows of the block boundaries, `Context.insert_positions`)."""
    edits: list[Edit] = []
    for row in positions:
        edits.append(Edit(row.name, "pool"))
        channels = row.output_shapes[0][-1] if row.output_shapes and row.output_shapes[0] else None
        if isinstance(channels, int):
            edits.append(Edit(row.name, "conv", channels))
            edits.append(Edit(row.name, "stage", channels))
    for row in windows:
        if row.type not in CONV_CLASSES:
            continue
        cfg = configs[row.name]
        strides = config_edit.as_list(cfg.get("strides", 1), rank)
        dilation = config_edit.as_list(cfg.get("dilation_rate", 1), rank)
        if strides != [1] * rank or max(config_edit.as_list(cfg.get("kernel_size", 1), rank)) < 2:
            continue  # stride 2 in a 1x1 conv skips pixels (dead compute); dilating it is a no-op
        if dilation == [1] * rank:
            edits.append(Edit(row.name, "stride"))
        edits.extend(Edit(row.name, "dilation", rate) for rate in (2, 4))
    return edits


# -- the objective ----------------------------------------------------------------------------------


def _log2_ratio(after: Any, before: Any) -> float:
    return math.log2(after / before) if after and before else 0.0


def pile(edits: Sequence[Edit], stages: Mapping[str, Any]) -> int:
    """Downsampling edits beyond the first per stage (`stages`: layer -> its jump)."""
    counts: dict[Any, int] = {}
    for edit in edits:
        if edit.downsamples:
            stage = stages.get(edit.layer)
            counts[stage] = counts.get(stage, 0) + 1
    return sum(count - 1 for count in counts.values())


def score(before: Metrics, after: Metrics, target: int) -> tuple[float, dict[str, float]]:
    """The least-change score of an option and its terms, but `pile` and `edits` (module
    docstring; `search` adds those two, which depend on the edits, not on the metrics)."""
    reach = min(after.rf)
    terms = {
        "overshoot": max(_log2_ratio(reach, target), 0.0),
        "resolution": 0.0,
        "compute": abs(_log2_ratio(after.flops, before.flops)),
        "params": PARAMS_WEIGHT * abs(_log2_ratio(after.params, before.params)),
        "idle": float(max((after.idle_stages or 0) - (before.idle_stages or 0), 0)),
        "edits": 0.0,
        "shortfall": SHORTFALL * max(_log2_ratio(target, reach), 0.0),
    }
    if before.final_feature_map and after.final_feature_map:
        pairs = list(zip(before.final_feature_map, after.final_feature_map))
        terms["resolution"] = sum(_log2_ratio(b, a) for b, a in pairs) / len(pairs)
    return sum(terms.values()), terms


def guarded_out(before: Metrics, after: Metrics, target: int) -> str | None:
    """Why an option is held back (module docstring), or None."""
    side = max((n for n in before.input_size if isinstance(n, int)), default=0)
    if max(after.rf) > RF_LIMIT * max(target, side):
        return f"its RF is more than {RF_LIMIT:g}x max(target, input side)"
    final, start = after.final_feature_map, before.final_feature_map
    if final and start and all(n == 1 for n in final) and any(n > 1 for n in start):
        return "its final feature map collapses to 1x1"
    return None


@dataclass(frozen=True)
class Option:
    edits: tuple[Edit, ...]
    metrics: Metrics
    score: float
    terms: Mapping[str, float]
    met: bool
    held_back: str | None

    @property
    def family(self) -> str:
        kinds = {FAMILY[e.kind] for e in self.edits}
        return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass(frozen=True)
class SearchResult:
    shown: tuple[Option, ...]
    evaluated: int


def search(
    evaluator: Evaluator,
    graph: Graph,
    before: Metrics,
    edits: Sequence[Edit],
    target: int,
    rank: int,
    stages: Mapping[str, Any],
) -> SearchResult:
    """Beam search for the options that reach `target` with the least change."""
    budget = None if evaluator.incremental else FULL_BUDGET
    options: dict[tuple[Edit, ...], Option] = {}
    frontier: list[tuple[Edit, ...]] = [()]
    evaluated = 0
    broken: set[Edit] = set()  # single edits with which the model does not build
    for depth in range(MAX_EDITS):
        short: list[Option] = []
        for base in frontier:
            for edit in edits:
                combo = tuple(sorted((*base, edit)))
                if edit in broken or combo in options or not compatible(combo):
                    continue
                if budget is not None and evaluated >= budget:
                    break
                evaluated += 1
                try:
                    after = evaluator.evaluate(apply_to_graph(combo, graph, rank), peak=False)
                except CnnCostError:  # the edited model does not build (an Add of two sizes):
                    if depth == 0:  # not tried again in combinations (a pool in one branch of a
                        broken.add(edit)  # residual block breaks its Add whatever comes with it)
                    continue
                if after.rf is None or after.flops is None:
                    continue
                value, terms = score(before, after, target)
                terms["pile"] = float(pile(combo, stages))
                terms["edits"] = EDIT_COST * sum(e.size for e in combo)
                value += terms["pile"] + terms["edits"]
                met = min(after.rf) >= target
                option = Option(
                    combo,
                    after,
                    value,
                    terms,
                    met,
                    guarded_out(before, after, target) if met else None,
                )
                options[combo] = option
                if not met:
                    short.append(option)
        frontier = _frontier(short)
        if not frontier:
            break
    shown = tuple(
        replace(o, metrics=evaluator.evaluate(apply_to_graph(o.edits, graph, rank)))
        for o in _shown(list(options.values()))
    )  # the peak activation memory, for the options shown only
    return SearchResult(shown, evaluated)


def _frontier(short: list[Option]) -> list[tuple[Edit, ...]]:
    """The combinations short of the target that the next depth extends: the `BEAM` best by
    score, and for diversity the `PER_KIND` best of each set of edit kinds (a conv block adds
    little RF alone and would drop out of a plain beam before a pooling joins it)."""
    short = sorted(short, key=lambda o: o.score)
    chosen = {o.edits: None for o in short[:BEAM]}
    per_kind: dict[frozenset, int] = {}
    for option in short:
        if len(chosen) >= BEAM + DIVERSE:
            break
        kinds = frozenset(e.kind for e in option.edits)
        if per_kind.get(kinds, 0) < PER_KIND:
            per_kind[kinds] = per_kind.get(kinds, 0) + 1
            chosen.setdefault(option.edits)
    return list(chosen)


def _shown(options: list[Option]) -> tuple[Option, ...]:
    """The best option, then other Pareto-optimal ones (RF closest above the target, FLOPs,
    final map area), best score first; when nothing reaches the target, the closest."""
    met = [o for o in options if o.met]
    if not met:
        closest = sorted(options, key=lambda o: (-min(o.metrics.rf), o.score))
        return tuple(closest[:1])
    clean = [o for o in met if o.held_back is None] or met
    clean.sort(key=lambda o: (o.score, o.edits))
    front = _pareto(clean[:PARETO_POOL])
    shown = [clean[0]]
    seen = {_signature(clean[0])}
    for option in front:
        if len(shown) >= PARETO_SHOWN:
            break
        if _signature(option) not in seen:
            shown.append(option)
            seen.add(_signature(option))
    return tuple(shown)


def _pareto(options: list[Option]) -> list[Option]:
    """The options no other one dominates in `_key` (all <=, one <), in their given order."""
    keyed = [(_key(o), o) for o in options]
    return [
        o
        for k, o in keyed
        if not any(all(x <= y for x, y in zip(j, k)) and j != k for j, _ in keyed)
    ]


def _area(option: Option) -> int:
    return math.prod(option.metrics.final_feature_map or (0,))


def _key(option: Option) -> tuple:
    return (min(option.metrics.rf), option.metrics.flops, -_area(option))


def _signature(option: Option) -> tuple:
    m = option.metrics
    return (m.rf, m.flops, m.params, m.final_feature_map)
