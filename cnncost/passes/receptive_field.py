"""Receptive field of every layer, per spatial axis, per model input, in one forward sweep.

Conventions (docs/receptive-field.md): input pixel centres are at integer coordinates 0..N-1.
An output unit `i` depends on the input pixels in a closed interval `[low(i), high(i)]` (its *span*: holes left
by dilation or by strides larger than kernels are inside it). Then

    size  = high(i) - low(i) + 1           centre = (low(i) + high(i)) / 2 = start + i*jump
    start = centre of unit 0               effective_padding = (size-1)/2 - start = -low(0)

Through a window op (kernel k, stride s, dilation d, left padding p) the classic recurrences
`r' = r + (k_eff-1)*j`, `start' = start + ((k_eff-1)/2 - p)*j`, `j' = j*s` follow from
`low'(i) = low(s*i - p)`, `high'(i) = high(s*i - p + (k-1)*d)`.

To be exact through upsampling and transposed convolutions (fractional jumps, sizes that depend
on the unit's position) each axis is kept as an `AxisMap`: the interval of unit `i = period*q + m`
is `[low[m] + q*advance, high[m] + q*advance]`. Window ops, upsampling, transposed convs and merges
all map such periodic maps to periodic maps, so the result is exact for every unit. An ordinary
conv/pool chain has period 1, and then `jump = advance`.

"same" padding splits `total = max((ceil(n/s)-1)*s + k_eff - n, 0)` as `p = total // 2` on the
left (TensorFlow's rule). Writing `n = s*m - e` (0 <= e < s) gives `total = max(k_eff - s + e, 0)`,
which depends on `n` only through `n mod s`: where the input size is unknown and `p` differs
between residues, the left padding is an unknown `u`, kept as a symbolic shift of the whole map
(`start` and `effective_padding` are then `None`, never guessed; sizes and jumps stay exact).

`interior` is the range of units whose whole dependency cone avoids every padded position
(of the input and of every intermediate tensor): only for those units is the region exact with
no clipping at the border. For the others the measured region is contained in the analytic one,
clipped to the image (the border rule, checked by the tests).

Arithmetic uses `//`, `%` and `Fraction` only. This module never imports keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import gcd, lcm
from typing import Any

from cnncost.ir import Graph, Node
from cnncost.layers import Call, rule_for
from cnncost.layers.base import Window, guarded, is_int, spatial_axes
from cnncost.layers.layout import input_data_formats
from cnncost.passes.shapes import ShapeResult

MAX_PERIOD = 4096  # periodic maps longer than this (absurd upsampling chains) become unknown

Shift = tuple[tuple[str, int], ...]  # unknown left paddings `u` and their coefficients


# -- one axis -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisMap:
    """The input interval of every unit along one axis (see the module docstring).

    `low`/`high` are per phase `m` (None: that unit depends on no input pixel, as the odd units of
    a kernel-1 stride-2 transposed conv). `shift` holds unknown paddings: the true interval is the
    stored one plus `sum(coefficient * u)`. `interior` is (first, last) unit whose cone avoids all
    padding, or None when the sizes are unknown.
    """

    period: int
    advance: int
    low: tuple[int | None, ...]
    high: tuple[int | None, ...]
    shift: Shift = ()
    interior: tuple[int, int] | None = None

    # -- summary values

    @property
    def jump(self) -> Fraction:
        return Fraction(self.advance, self.period)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(h - lo + 1 for lo, h in zip(self.low, self.high) if lo is not None)

    @property
    def size_min(self) -> int:
        return min(self.sizes, default=0) if None not in self.low else 0

    @property
    def size_max(self) -> int:
        return max(self.sizes, default=0)

    @property
    def offset_known(self) -> bool:
        return not self.shift

    @property
    def start(self) -> Fraction | None:
        """Centre of unit 0 (None when it depends on an unknown padding or unit 0 sees nothing)."""
        return self.centre(0)

    @property
    def effective_padding(self) -> int | None:
        bounds = self.region(0)
        return None if bounds is None else -bounds[0]

    # -- unit <-> input region

    def _stored(self, unit: int) -> tuple[int, int] | None:
        q, m = divmod(unit, self.period)
        low = self.low[m]
        if low is None:
            return None
        return low + q * self.advance, self.high[m] + q * self.advance

    def region(self, unit: int) -> tuple[int, int] | None:
        """Input pixels [low, high] unit `unit` depends on (unclipped); None if unknown or empty."""
        if self.shift:
            return None
        return self._stored(unit)

    def centre(self, unit: int) -> Fraction | None:
        bounds = self.region(unit)
        return None if bounds is None else Fraction(bounds[0] + bounds[1], 2)

    def unit_at_centre(self, centre: Fraction | int) -> int | None:
        """The smallest unit whose region is centred at `centre` (the inverse of `centre`), if
        any: per phase m, `(low[m] + high[m])/2 + q*advance = centre` for an integer q."""
        if self.shift or self.advance <= 0:
            return None
        found = []
        for phase, (low, high) in enumerate(zip(self.low, self.high)):
            if low is None:
                continue
            q = (Fraction(centre) - Fraction(low + high, 2)) / self.advance
            if q.denominator == 1:
                found.append(int(q) * self.period + phase)
        return min(found, default=None)

    def units_covering(self, pixel: int, units: int | None = None) -> tuple[int, ...]:
        """The units whose region contains input pixel `pixel` (within `units` output units): per
        phase m, the q with `low[m] + q*advance <= pixel <= high[m] + q*advance`."""
        if self.shift or self.advance <= 0:
            return ()
        found: list[int] = []
        for phase, (low, high) in enumerate(zip(self.low, self.high)):
            if low is None:
                continue
            q_first = -((high - pixel) // self.advance)  # ceil((pixel - high) / advance)
            q_last = (pixel - low) // self.advance
            if units is not None:  # 0 <= q*period + phase < units, with 0 <= phase < period
                q_first = max(q_first, 0)
                q_last = min(q_last, (units - 1 - phase) // self.period)
            found += (q * self.period + phase for q in range(q_first, q_last + 1))
        return tuple(sorted(u for u in found if units is None or 0 <= u < units))


def identity_map(size: Any) -> AxisMap:
    """The input itself: unit i is pixel i."""
    return AxisMap(1, 1, (0,), (0,), (), (0, size - 1) if is_int(size) else None)


def _merge_bounds(parts):
    parts = [b for b in parts if b is not None]
    if not parts:
        return None, None
    return min(b[0] for b in parts), max(b[1] for b in parts)


def _progression_bounds(m: AxisMap, first: int, step: int, count: int):
    """`_merge_bounds` of the regions of units `first + j*step`, 0 <= j < count, in
    O(min(count, period)) lookups however large `count` is.

    A unit's region is `[low[r], high[r]] + q*advance` for unit `q*period + r`, and `advance >= 0`,
    so among units of one residue r the lowest `low` belongs to the smallest unit and the highest
    `high` to the largest. `first + j*step` runs through the residues with a cycle of
    `cycle = period / gcd(period, step)` values of j, so for `step > 0` the first `cycle` terms
    hold the smallest unit of every residue met and the last `cycle` terms the largest (for
    `step < 0` the other way round).
    """
    if count <= 0:
        return None, None
    cycle = m.period // gcd(m.period, abs(step)) if step else 1
    head = range(min(cycle, count))
    tail = range(max(count - cycle, 0), count)
    smallest, largest = (head, tail) if step >= 0 else (tail, head)
    low, _ = _merge_bounds(m._stored(first + j * step) for j in smallest)
    _, high = _merge_bounds(m._stored(first + j * step) for j in largest)
    return low, high


def window_map(
    m: AxisMap, kernel: int, stride: int, dilation: int, left: int | None, n_in, n_out, key: str
) -> AxisMap | None:
    """A sliding window: unit i reads input units `stride*i - left + t*dilation`, t < kernel.

    `left=None` is an unknown padding: computed as 0 and recorded as the shift `-advance*u`
    (exact for period-1 maps; None otherwise).
    """
    pad = 0 if left is None else left
    g = gcd(m.period, stride)
    period = m.period // g
    lows, highs = [], []
    for phase in range(period):
        low, high = _progression_bounds(m, stride * phase - pad, dilation, kernel)
        lows.append(low)
        highs.append(high)
    shift = m.shift
    if left is None:
        if m.period != 1:
            return None
        shift = _add_shift(shift, ((key, -m.advance),))
    interior = None
    if m.interior is not None and left is not None and is_int(n_out):
        first, last = m.interior
        interior = (
            max(-((-(first + pad)) // stride), 0),
            min((last + pad - (kernel - 1) * dilation) // stride, n_out - 1),
        )
    return AxisMap(period, m.advance * (stride // g), tuple(lows), tuple(highs), shift, interior)


def transposed_map(
    m: AxisMap, kernel: int, stride: int, dilation: int, left: int, n_in, n_out
) -> AxisMap | None:
    """A transposed window (transposed conv, upsampling): input unit i feeds output units
    `stride*i - left + t*dilation`, t < kernel. Output o reads the i with `stride*i = o+left-t*d`.
    """
    period = m.period * stride
    if period > MAX_PERIOD:
        return None
    g = gcd(dilation, stride)
    cycle = stride // g  # taps t and t + cycle land on the same phase of the input
    inverse = pow((dilation // g) % cycle, -1, cycle) if cycle > 1 else 0

    def sources(o: int) -> tuple[int, int, int]:
        """The inputs output `o` reads, `first - j*step` for 0 <= j < count (decreasing): the
        taps with `t*d = o + left (mod s)`, i.e. t = t0 (mod s/g) when g divides o + left."""
        target = o + left
        if target % g:
            return 0, 0, 0
        t0 = (target // g) * inverse % cycle
        count = max((kernel - 1 - t0) // cycle + 1, 0)
        return (target - t0 * dilation) // stride, dilation // g, count

    lows, highs = [], []
    read: list[tuple[int, int] | None] = []  # (lowest, highest) input that phase reads
    for phase in range(period):
        first, step, count = sources(phase)
        low, high = _progression_bounds(m, first, -step, count)
        lows.append(low)
        highs.append(high)
        read.append(_read_range(m, first, step, count))
    interior = None
    if m.interior is not None and is_int(n_out):
        # Units that read nothing (empty phases) say nothing about the border: the range is
        # that of the units that read only interior inputs, among those that read any. Unit
        # `phase + q*period` reads what `phase` reads shifted by `q*m.period` inputs.
        first_in, last_in = m.interior
        inside = []
        for phase, bounds in enumerate(read):
            if bounds is None:
                continue
            lowest, highest = bounds
            q_low = max(-((lowest - first_in) // m.period), 0)  # ceil((first-lowest)/P), >= 0
            q_high = min((last_in - highest) // m.period, (n_out - 1 - phase) // period)
            if q_low <= q_high:
                inside += [phase + q_low * period, phase + q_high * period]
        interior = (min(inside), max(inside)) if inside else (0, -1)
    return AxisMap(period, m.advance, tuple(lows), tuple(highs), m.shift, interior)


def _read_range(m: AxisMap, first: int, step: int, count: int) -> tuple[int, int] | None:
    """Lowest and highest of the units `first - j*step` (0 <= j < count) whose region is not
    empty; whether it is depends only on the unit's residue, which repeats every `cycle` j."""
    cycle = m.period // gcd(m.period, step) if step else 1
    head = [first - j * step for j in range(min(cycle, count))]
    tail = [first - j * step for j in range(max(count - cycle, 0), count)]
    highest = next((u for u in head if m._stored(u) is not None), None)
    lowest = next((u for u in reversed(tail) if m._stored(u) is not None), None)
    return None if highest is None else (lowest, highest)


def _add_shift(a: Shift, b: Shift) -> Shift:
    total: dict[str, int] = dict(a)
    for key, coefficient in b:
        total[key] = total.get(key, 0) + coefficient
    return tuple(sorted((k, c) for k, c in total.items() if c))


@dataclass(frozen=True)
class MergedAxis:
    axis_map: AxisMap | None  # None: the union cannot be described (different jumps/offsets)
    aligned: bool | None
    centres: tuple[Fraction | None, ...] = ()  # unit-0 centre of each input


def merge_maps(maps: list[AxisMap]) -> MergedAxis:
    """Union of the inputs' regions, unit by unit. Aligned: same jump and same centres."""
    jumps = {m.jump for m in maps}
    shifts = {m.shift for m in maps}
    centres = tuple(m.centre(0) for m in maps)
    if len(jumps) > 1 or len(shifts) > 1:
        return MergedAxis(None, None if len(jumps) == 1 else False, centres)
    period = lcm(*(m.period for m in maps))
    if period > MAX_PERIOD:
        return MergedAxis(None, None, centres)
    jump = jumps.pop()
    lows, highs = [], []
    aligned = True
    for phase in range(period):
        parts = [m._stored(phase) for m in maps]
        low, high = _merge_bounds(parts)
        lows.append(low)
        highs.append(high)
        mids = {Fraction(b[0] + b[1], 2) for b in parts if b is not None}
        aligned = aligned and len(mids) <= 1
    interiors = [m.interior for m in maps]
    interior = None
    if all(i is not None for i in interiors):
        interior = (max(i[0] for i in interiors), min(i[1] for i in interiors))
    merged = AxisMap(period, int(jump * period), tuple(lows), tuple(highs), shifts.pop(), interior)
    return MergedAxis(merged, aligned, centres)


# -- tensor states --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Local:
    """A tensor whose units depend on a region of the input; `axes` are its spatial axes.

    `gated`: a global gate (squeeze-and-excitation, normalization statistics over space) has been
    applied, so the formal RF is the whole input; `maps` still give the local RF ignoring it.
    `aligned`: False once a merge on the way here had misaligned inputs.
    """

    axes: tuple[int, ...]
    maps: tuple[AxisMap, ...]
    gated: bool = False
    aligned: bool | None = True


@dataclass(frozen=True)
class Global:
    """Every unit depends on the whole input (Flatten, global pooling, Dense after them)."""


@dataclass(frozen=True)
class Unknown:
    reason: str


State = Local | Global | Unknown


@dataclass(frozen=True)
class NodeReceptiveField:
    """The receptive field of one node's output with respect to one model input."""

    input_name: str
    state: State
    input_size: tuple[Any, ...]  # the input's spatial sizes (None where unknown)

    @property
    def is_global(self) -> bool | None:
        if isinstance(self.state, Unknown):
            return None
        return isinstance(self.state, Global) or self.state.gated

    @property
    def local(self) -> Local | None:
        return self.state if isinstance(self.state, Local) else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON value: the keys of RF_KEYS, in that order, on every row (null where absent)."""
        state = self.state
        none = [None] * len(self.input_size)
        if isinstance(state, Unknown):
            return _row(
                size=none,
                jump=none,
                start=none,
                effective_padding=none,
                size_min=none,
                size_max=none,
                interior=none,
                exact=False,
                reason=state.reason,
            )
        if isinstance(state, Global) or state.gated:
            whole = list(self.input_size)
            return _row(
                size=whole,
                jump=none,
                start=none,
                effective_padding=none,
                size_min=whole,
                size_max=whole,
                interior=none,
                is_global=True,
                aligned=True if isinstance(state, Global) else state.aligned,
                exact=True,
                local=_local_dict(state) if isinstance(state, Local) else None,
            )
        return _local_dict(state)


RF_KEYS = (
    "size",
    "jump",
    "start",
    "effective_padding",
    "size_min",
    "size_max",
    "interior",
    "global",
    "aligned",
    "exact",
    "reason",
    "local",
)


def _row(
    *,
    size: list,
    jump: list,
    start: list,
    effective_padding: list,
    size_min: list,
    size_max: list,
    interior: list,
    is_global: bool | None = None,
    aligned: bool | None = None,
    exact: bool,
    reason: str | None = None,
    local: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One receptive-field value with every key of RF_KEYS, in that order."""
    values = (
        size,
        jump,
        start,
        effective_padding,
        size_min,
        size_max,
        interior,
        is_global,
        aligned,
        exact,
        reason,
        local,
    )
    return dict(zip(RF_KEYS, values, strict=True))


def _local_dict(state: Local) -> dict[str, Any]:
    """The local RF (for a gated state: the one that ignores the global gates)."""
    maps = state.maps
    return _row(
        size=[m.size_max for m in maps],
        jump=[_number(m.jump) for m in maps],
        start=[_number(m.start) for m in maps],
        effective_padding=[m.effective_padding for m in maps],
        size_min=[m.size_min for m in maps],
        size_max=[m.size_max for m in maps],
        interior=[list(m.interior) if m.interior else None for m in maps],
        is_global=False,
        aligned=state.aligned,
        exact=True,
    )


def _number(value: Fraction | None) -> int | float | str | None:
    """Ints stay ints; halves and other dyadic fractions are exact floats; else 'p/q'."""
    if value is None:
        return None
    if value.denominator == 1:
        return int(value)
    if value.denominator & (value.denominator - 1) == 0:
        return float(value)
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class ReceptiveFieldResult:
    nodes: Mapping[str, Mapping[str, NodeReceptiveField | None]]
    warnings: tuple[str, ...] = field(default=())

    def row(self, node_name: str) -> dict[str, dict[str, Any] | None]:
        """The JSON row value: {input name: dict or None}."""
        return {
            name: None if rf is None else rf.to_dict() for name, rf in self.nodes[node_name].items()
        }


# -- the sweep ------------------------------------------------------------------------------------


def same_left_padding(n, kernel_eff: int, stride: int) -> int | None:
    """TensorFlow's left padding for "same": `max((ceil(n/s)-1)*s + k_eff - n, 0) // 2`.

    With n unknown it is `max(k_eff - s + e, 0) // 2` for e = (-n) mod s: known only when every
    residue gives the same value.
    """
    if is_int(n):
        return max((-(-n // stride) - 1) * stride + kernel_eff - n, 0) // 2
    # The value does not decrease with e: it is the same for every residue iff e = 0 and
    # e = s - 1 agree.
    smallest, largest = max(kernel_eff - stride, 0) // 2, max(kernel_eff - 1, 0) // 2
    return smallest if smallest == largest else None


def _left_padding(window: Window, index: int, n) -> int | None:
    k_eff = window.dilation[index] * (window.kernel[index] - 1) + 1
    padding = window.padding
    if not isinstance(padding, str):
        return padding[index][0]
    if padding == "valid":
        return 0
    if padding == "causal":
        return k_eff - 1
    if padding == "same":
        return same_left_padding(n, k_eff, window.strides[index])
    raise ValueError(f"unknown padding {padding!r}")


def receptive_fields(graph: Graph, shapes: ShapeResult) -> ReceptiveFieldResult:
    """The receptive field of every node with respect to every model input."""
    formats = input_data_formats(graph)
    input_names = [ref.node for ref in graph.inputs]
    initial: dict[str, tuple[tuple[int, ...], tuple[Any, ...]] | None] = {}
    for name in input_names:
        shape = shapes.nodes[name].outputs[0]
        if shape is None or len(shape) < 3:
            initial[name] = None
        else:
            axes = spatial_axes(len(shape), formats[name])
            initial[name] = (axes, tuple(shape[a] for a in axes))
    states: dict[str, dict[str, State | None]] = {}
    warnings: list[str] = []
    for node in graph.nodes:
        per_input: dict[str, State | None] = {}
        for name in input_names:
            if node.is_input:
                spatial = initial[name] if node.name == name else None
                per_input[name] = (
                    None
                    if spatial is None
                    else Local(spatial[0], tuple(identity_map(n) for n in spatial[1]))
                )
                continue
            incoming = [(ref, states[ref.node][name]) for ref in node.inputs]
            present = [(ref, s) for ref, s in incoming if s is not None]
            if not present:
                per_input[name] = None
                continue
            state = _transfer(node, name, present, shapes, warnings)
            if isinstance(state, Unknown) and not any(s is state for _, s in present):
                # Warn where an unknown RF starts; the layers after it inherit its reason.
                warnings.append(f"{node.name}: receptive field of {name!r} unknown: {state.reason}")
            per_input[name] = state
        states[node.name] = per_input
    nodes = {
        node.name: {
            name: None
            if states[node.name][name] is None
            else NodeReceptiveField(name, states[node.name][name], initial[name][1])
            for name in input_names
        }
        for node in graph.nodes
    }
    return ReceptiveFieldResult(nodes, tuple(warnings))


def _transfer(node: Node, input_name: str, present, shapes: ShapeResult, warnings) -> State:
    unknown = next((s for _, s in present if isinstance(s, Unknown)), None)
    if unknown is not None:
        return unknown  # unknown upstream stays unknown, for the reason given there
    rule = rule_for(node)
    if rule is None:
        return Unknown(f"unsupported layer class {node.class_name!r}")
    node_shapes = shapes.nodes[node.name]
    if rule.rf == "merge":
        return _merge(node, input_name, present, node_shapes, warnings)
    states = {id(s): s for _, s in present}
    if len(states) > 1:
        return Unknown(f"{node.class_name} mixes several tensors that depend on the input")
    state = present[0][1]
    kind = rule.rf
    if kind == "input":
        return state
    if kind == "global":
        return Global()
    if isinstance(state, Global):
        return state  # whatever follows a whole-input dependency still depends on all of it
    in_shape = node_shapes.inputs[0] if node_shapes.inputs else None
    out_shape = node_shapes.outputs[0] if node_shapes.outputs else None
    if kind == "pointwise":
        if in_shape is not None and out_shape is not None and len(in_shape) != len(out_shape):
            return Unknown(f"{node.class_name} changes the rank")
        return state
    if kind == "reduce" and rule.reduced_axes is not None and in_shape is not None:
        call = Call(node, node_shapes.inputs)
        reduced = {a % len(in_shape) for a in guarded(call, rule.reduced_axes)}
        return _reduce(node, state, reduced, in_shape, out_shape)
    if kind == "select" and rule.touched_axes is not None:
        touched = guarded(Call(node, node_shapes.inputs), rule.touched_axes)
        if state.axes and touched and min(touched) <= max(state.axes):
            return Unknown(f"{node.class_name} moves, slices or pads a spatial axis")
        return state
    if kind == "window" and rule.window is not None and in_shape is not None:
        return _window(node, state, node_shapes, in_shape, out_shape, rule)
    return Unknown(f"{node.class_name} changes the spatial layout")


def _reduce(node: Node, state: Local, reduced: set[int], in_shape, out_shape) -> State:
    """Statistics over `reduced` axes.

    - Shape kept (GroupNormalization, LayerNormalization over space): pointwise, plus a global
      gate when the statistics span a spatial axis.
    - A reduction (`ops.mean(x, axis=[1, 2], keepdims=True)`): over every spatial axis, each
      output depends on the whole input, exactly like GlobalAveragePooling2D(keepdims=...), so
      the state is Global and a later `x * gate` is gated as after GAP; over no spatial axis
      (a mean over channels, CBAM-style), pointwise, the spatial axes renumbered when reduced
      axes before them are dropped; over some spatial axes only, the layout changes (unknown).
    """
    spatial = set(state.axes)
    if out_shape is None or tuple(out_shape) == tuple(in_shape):
        return replace(state, gated=True) if reduced & spatial else state
    if spatial <= reduced:
        return Global()
    if reduced & spatial:
        return Unknown(f"{node.class_name} reduces some spatial axes, not all")
    if len(out_shape) < len(in_shape):  # keepdims=False
        axes = tuple(a - sum(1 for r in reduced if r < a) for a in state.axes)
        return replace(state, axes=axes)
    return state


def _window(node: Node, state: Local, node_shapes, in_shape, out_shape, rule) -> State:
    window = guarded(Call(node, node_shapes.inputs), rule.window)
    if window is None:
        interpolation = node.config.get("interpolation")
        detail = f" (interpolation {interpolation!r})" if interpolation else ""
        return Unknown(f"{node.class_name}: this configuration{detail} is not modelled")
    axes = tuple(a % len(in_shape) for a in window.axes)
    if axes != state.axes:
        return Unknown(f"{node.class_name} slides over axes {list(axes)}, not the spatial ones")
    maps = []
    for index, (axis, current) in enumerate(zip(axes, state.maps)):
        n_in = in_shape[axis]
        n_out = None if out_shape is None else out_shape[axis]
        left = _left_padding(window, index, n_in)
        k, s, d = window.kernel[index], window.strides[index], window.dilation[index]
        if window.transposed:
            if left is None:
                return Unknown(f"{node.class_name}: padding depends on the unknown input size")
            new = transposed_map(current, k, s, d, left, n_in, n_out)
        else:
            new = window_map(current, k, s, d, left, n_in, n_out, f"{node.name}:{axis}")
        if new is None:
            return Unknown(f"{node.class_name}: position-dependent map too complex to track")
        maps.append(new)
    return replace(state, maps=tuple(maps))


def _merge(node: Node, input_name: str, present, node_shapes, warnings) -> State:
    states = [s for _, s in present]
    if any(isinstance(s, Unknown) for s in states):
        return next(s for s in states if isinstance(s, Unknown))
    locals_ = [(ref, s) for ref, s in present if isinstance(s, Local)]
    if not locals_:
        return Global()
    out_shape = node_shapes.outputs[0] if node_shapes.outputs else None
    if out_shape is None:
        return Unknown("output shape unknown")
    rank = len(out_shape)
    concat_axis = node.config.get("axis")
    shifted = []
    for ref, s in locals_:
        in_shape = node_shapes.inputs[node.inputs.index(ref)]
        offset = rank - len(in_shape)
        axes = tuple(a + offset for a in s.axes)
        if any(in_shape[a - offset] == 1 and out_shape[a] != 1 for a in axes):
            return Unknown(f"{node.class_name} broadcasts a local tensor over space")
        shifted.append((ref, replace(s, axes=axes)))
    axes = {s.axes for _, s in shifted}
    if len(axes) > 1:
        return Unknown(f"{node.class_name} merges tensors with different spatial axes")
    axes = axes.pop()
    if is_int(concat_axis) and concat_axis % rank in axes:
        return Unknown("concatenation along a spatial axis")
    gated = len(locals_) < len(states) or any(s.gated for _, s in shifted)
    aligned: bool | None = (
        all(s.aligned for _, s in shifted)
        if all(s.aligned is not None for _, s in shifted)
        else None
    )
    maps = []
    for index, axis in enumerate(axes):
        merged = merge_maps([s.maps[index] for _, s in shifted])
        if merged.axis_map is None:
            reason = (
                "the inputs have different jumps"
                if merged.aligned is False
                else "alignment depends on the unknown input size (give the input shape)"
            )
            return Unknown(reason)
        if merged.aligned is False:
            aligned = False
            m = merged.axis_map
            centres = ", ".join(
                f"{ref.node}: {_fmt(c)}" for (ref, _), c in zip(shifted, merged.centres)
            )
            warnings.append(
                f"{node.name}: misaligned merge on axis {axis} of {input_name!r}: unit-0 centres "
                f"{centres} (jump {_fmt(m.jump)}); the merged unit 0 spans input pixels "
                f"{_fmt_region(m.region(0))}, size {m.size_min}..{m.size_max}"
            )
        maps.append(merged.axis_map)
    if len(shifted) > 1 and any(None in m.low for _, s in shifted for m in s.maps):
        # An input whose units read nothing at some phase of one axis (a kernel-1 stride-2
        # transposed conv) adds nothing there on the other axes either, but the union is taken
        # axis by axis: the region is then an upper bound, and no unit is claimed exact (an
        # empty interior range).
        maps = [replace(m, interior=(0, -1)) for m in maps]
    return Local(axes, tuple(maps), gated, aligned)


def _fmt(value: Fraction | None) -> str:
    return "unknown" if value is None else str(_number(value))


def _fmt_region(region: tuple[int, int] | None) -> str:
    return "unknown" if region is None else f"{region[0]}..{region[1]}"
