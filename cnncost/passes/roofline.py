"""Roofline latency per node on a device profile, for inference and for a training step.

For one layer call on the whole batch:

    compute time = flops / peak_flops            (full-convention FLOPs: the work done)
    memory time  = bytes_moved / bandwidth
    time         = max(compute time, memory time) + overhead
    bound        = "compute" if compute time >= memory time else "memory"
    intensity    = flops / bytes_moved            (FLOPs per byte)

`bytes_moved` of a forward call = its inputs read + its weights read + its outputs written, each
once (no cache reuse across layers, no fusion): `in + w + out`.

A training step per layer (Adam), each term only where the compute pass does that work:
- forward: `in + w + out` bytes;
- input gradient (some upstream layer is trainable): read the output gradient and the weights,
  write the input gradient: `out + w + in`;
- weight gradient (trainable weights): read the output gradient and the inputs, write the weight
  gradient: `out + in + tw` (tw: trainable weight bytes);
- Adam update: read weight, gradient, 2 slots, write weight and 2 slots: `7 * tw`.
The overhead is paid once per kernel-group: forward, input gradient, weight gradient, update.

`floor_s = flops / peak_flops` is a hard lower bound (no device does the work faster than its
peak); the memory term is not one (caches, fusion and views can avoid the traffic), so a
measured time below `floor_s` is impossible, one below `time` merely beats the model.
The whole model's latency is the sum over its layers (layers run one after another), plus the
device's `call_overhead_s` once (one compiled call of the model / train step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cnncost.devices import DeviceProfile
from cnncost.ir import Graph
from cnncost.passes.compute import ComputeResult, _needs_input_gradient, _trainable_layers
from cnncost.passes.memory import MemoryResult
from cnncost.passes.params import NodeParams

ADAM_UPDATE_ACCESSES = 7  # read w, g, m, v; write w, m, v


@dataclass(frozen=True)
class Roofline:
    """One roofline evaluation: work in, time out."""

    flops: int
    bytes_moved: int
    compute_s: float
    memory_s: float
    overhead_s: float

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.overhead_s

    @property
    def floor_s(self) -> float:
        return self.compute_s

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes_moved if self.bytes_moved else None


def roofline_time(
    flops: int, bytes_moved: int, peak_flops: float, bandwidth: float, overhead_s: float = 0.0
) -> Roofline:
    return Roofline(flops, bytes_moved, flops / peak_flops, bytes_moved / bandwidth, overhead_s)


@dataclass(frozen=True)
class NodeRoofline:
    inference: Roofline | None  # None for InputLayer rows and unknown (symbolic) sizes
    training: Roofline | None


@dataclass(frozen=True)
class RooflineResult:
    nodes: Mapping[str, NodeRoofline]
    dtype: str  # the peak used: float32, tfloat32, bfloat16, ...
    peak_flops: float
    latency_s: float | None  # whole model, inference, one batch
    train_step_s: float | None
    floor_s: float | None
    train_floor_s: float | None
    warnings: tuple[str, ...]


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def roofline(
    graph: Graph,
    compute: ComputeResult,
    memory: MemoryResult,
    params: Mapping[str, NodeParams],
    batch: int,
    device: DeviceProfile,
    compute_dtype: str = "float32",
    tf32: bool = False,
) -> RooflineResult:
    """Per-node roofline on `device`. `compute` is per sample in the full convention; `memory`
    already covers the whole batch."""
    dtype, peak = device.peak_for(compute_dtype, tf32)
    bandwidth, overhead = device.bandwidth, device.overhead_s
    trainable = _trainable_layers(graph, params)
    needs_gradient = _needs_input_gradient(graph, trainable)
    nodes: dict[str, NodeRoofline] = {}
    unknown: list[str] = []
    for node in graph.nodes:
        if node.is_input:
            nodes[node.name] = NodeRoofline(None, None)
            continue
        work = compute.nodes[node.name]
        mem = memory.nodes[node.name]
        in_bytes = [memory.nodes[r.node].output_bytes[r.index] for r in node.inputs]
        values = [
            _int(work.flops),
            _int(work.train_flops),
            _int(mem.weight_bytes),
            _int(mem.activation_bytes),
            *(_int(b) for b in in_bytes),
        ]
        if any(v is None for v in values):
            unknown.append(node.name)
            nodes[node.name] = NodeRoofline(None, None)
            continue
        flops, train_flops = work.flops * batch, work.train_flops * batch
        w, out, inp = mem.weight_bytes, mem.activation_bytes, sum(in_bytes)
        node_params = params[node.name]
        tw = w * node_params.trainable // node_params.total if node_params.total else 0
        forward = inp + w + out
        train_bytes, calls = forward, 1
        if node.name in needs_gradient:
            train_bytes += out + w + inp
            calls += 1
        if node.name in trainable:
            train_bytes += out + inp + tw + ADAM_UPDATE_ACCESSES * tw
            calls += 2
        nodes[node.name] = NodeRoofline(
            roofline_time(flops, forward, peak, bandwidth, overhead),
            roofline_time(train_flops, train_bytes, peak, bandwidth, calls * overhead),
        )
    warnings = []
    if unknown:
        warnings.append(
            f"roofline: {len(unknown)} layers have no time (unknown sizes; first: {unknown[0]}); "
            "the model's predicted times are not given"
        )

    def total(kind: str, attr: str) -> float | None:
        if unknown:
            return None
        call = device.call_overhead_s if attr == "time_s" else 0.0
        return call + sum(
            getattr(getattr(n, kind), attr) for n in nodes.values() if getattr(n, kind)
        )

    return RooflineResult(
        nodes,
        dtype,
        peak,
        total("inference", "time_s"),
        total("training", "time_s"),
        total("inference", "floor_s"),
        total("training", "floor_s"),
        tuple(warnings),
    )
