"""What a layer rule is, and the small shape helpers the rules share.

A `LayerRule` says, for one Keras class, everything the passes need to know about a call:
output shapes, the variables it creates, its multiply-accumulates, the per-element cost kind used
by the FLOP conventions, and its spatial window for the receptive-field pass. Shape arithmetic
uses `//` only, so the same rule works for ints and sympy symbols; `None` is an unknown size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.errors import LayerError
from cnncost.ir import Dim, Node, Shape, TensorRef, Weight
from cnncost.limits import MAX_SIZE


@dataclass(frozen=True)
class Call:
    """A node together with the shapes of its tensor inputs."""

    node: Node
    input_shapes: tuple[Shape, ...]

    @property
    def config(self) -> Mapping[str, Any]:
        return self.node.config

    @property
    def shape(self) -> Shape:
        """The first input's shape (most layers have one input)."""
        if not self.input_shapes:
            raise LayerError(f"layer {self.node.name!r} ({self.node.class_name}) has no input")
        return self.input_shapes[0]

    @property
    def operand_count(self) -> int:
        """Operands of an elementwise call: its tensors plus numeric literals (`x * 2.0` has two),
        read from the call's arguments; at least the tensor inputs."""
        return max(_operands(self.node.arguments), len(self.input_shapes))

    def fail(self, message: str) -> LayerError:
        return LayerError(f"layer {self.node.name!r} ({self.node.class_name}): {message}")


def _operands(value: Any, depth: int = 0) -> int:
    if isinstance(value, TensorRef) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        return 1
    if isinstance(value, Mapping) and value.get("class_name") in ("__tensor__", "__numpy__"):
        return 1  # a constant tensor argument (`x + np.array(...)`)
    if isinstance(value, (list, tuple)) and depth < 8:
        return sum(_operands(v, depth + 1) for v in value)
    return 0


@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial axes of the input, for the receptive-field pass.

    `padding` is "valid", "same", "causal", or explicit (left, right) pairs per axis.
    `transposed` marks transposed convolutions and upsampling (fractional jump): input unit i
    feeds output units `strides*i - left + t*dilation`, t < kernel, with `left` the explicit
    left padding (transposed windows always give explicit pairs).
    """

    axes: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str | tuple[tuple[int, int], ...]
    transposed: bool = False


class FieldError(LayerError):
    """A config field is malformed; `guarded` reports it with the layer's name and class."""


def guarded(call: Call, function: Callable, *args: Any) -> Any:
    """Run a rule function; a malformed config field becomes a one-line `LayerError`."""
    try:
        return function(call, *args)
    except FieldError as exc:
        raise call.fail(str(exc)) from None
    except LayerError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError) as exc:
        raise call.fail(f"malformed configuration ({type(exc).__name__}: {exc})") from None


def no_weights(call: Call) -> tuple[Weight, ...]:
    return ()


def no_macs(call: Call, outputs: tuple[Shape, ...]) -> Dim:
    return 0


def same_shape(call: Call) -> tuple[Shape, ...]:
    return (call.shape,)


@dataclass(frozen=True)
class LayerRule:
    """Everything cnncost knows about one Keras layer class.

    rf: how the receptive field passes through: "pointwise" (each output element sees the same
    position of the input), "window" (see `window`), "global" (every output sees the whole input:
    Flatten, Dense over space, global pooling), "merge" (several aligned inputs), "reshape"
    (spatial layout changes in a way we do not track: the RF becomes unknown), "input",
    "reduce" (pointwise, but statistics over `reduced_axes(call)`: where those include spatial
    axes, e.g. GroupNormalization, every output depends on the whole input, like a global gate),
    "select" (data movement that leaves every input axis before `min(touched_axes(call))`
    untouched: slicing, splitting or stacking the channels keeps the receptive field; touching a
    spatial axis or one before it makes it unknown).
    window: the sliding window of an rf="window" rule; it returns None for a configuration whose
    window is not modelled (bicubic upsampling): the receptive field is then unknown, with a
    warning naming the layer.
    cost: the row of the FLOP-convention table (`cnncost.conventions`) for per-element work.
    windowed_macs: the part of `macs` that slides over `window` (the part `--padding-aware`
    scales by the fraction of taps that land inside the input); None means all of `macs` when the
    rule has a window (SeparableConv's pointwise half does not slide, so it says so here).
    element_counts: for layers whose elementwise work is not "one `cost` row per output element"
    (attention: biases, scaling, softmax over the scores), the element count per table row.
    weight_macs: the part of `macs` that multiplies by the layer's weights (the weight gradient
    repeats it); None means all of `macs` (attention's score and context matmuls have no weights).
    """

    output_shapes: Callable[[Call], tuple[Shape, ...]] = same_shape
    weights: Callable[[Call], tuple[Weight, ...]] = no_weights
    macs: Callable[[Call, tuple[Shape, ...]], Dim] = no_macs
    rf: str = "pointwise"
    window: Callable[[Call], Window | None] | None = None
    cost: str | None = None
    windowed_macs: Callable[[Call, tuple[Shape, ...]], Dim] | None = None
    element_counts: Callable[[Call, tuple[Shape, ...]], Mapping[str, Dim]] | None = None
    weight_macs: Callable[[Call, tuple[Shape, ...]], Dim] | None = None
    reduced_axes: Callable[[Call], tuple[int, ...]] | None = None
    touched_axes: Callable[[Call], tuple[int, ...]] | None = None


# -- helpers ---------------------------------------------------------------------------------


def as_tuple(value: Any, rank: int, what: str) -> tuple[int, ...]:
    """Keras accepts an int or a tuple for kernel sizes, strides and rates."""
    if isinstance(value, bool):
        raise FieldError(f"{what} must be an int or a list of ints, not {value!r}")
    if isinstance(value, int):
        return (value,) * rank
    if (
        isinstance(value, (list, tuple))
        and len(value) == rank
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    raise FieldError(f"{what} must be an int or {rank} ints, not {value!r}")


# cnncost's cap on a layer's geometry values (kernel sizes, strides, dilation rates, pool sizes,
# upsampling factors, paddings and croppings, and a conv's effective window
# `dilation*(kernel-1)+1`): 2**31 - 1, the largest int32. No buildable layer comes near it (a
# kernel of 2**31 taps is 8 GiB of float32 per input/output channel pair, and TF's int32 index
# arithmetic in its conv kernels overflows past it); a larger value is config corruption,
# reported as a one-line `LayerError` naming the layer and the value.
# MAX_SIZE = 2**31 - 1 lives in cnncost.limits with the other caps (docs/limits.md).


def positive(values: tuple[int, ...], what: str) -> tuple[int, ...]:
    """Geometry values must be in 1..MAX_SIZE."""
    if any(v <= 0 for v in values):
        raise FieldError(f"{what} must be positive, got {list(values)}")
    return at_most_max_size(values, what)


def at_most_max_size(values: tuple[int, ...], what: str) -> tuple[int, ...]:
    if any(v > MAX_SIZE for v in values):
        raise FieldError(f"{what} {list(values)} is above cnncost's cap of 2**31 - 1 = {MAX_SIZE}")
    return values


def product(values: Sequence[Dim]) -> Dim:
    """Product of dims; None if any is unknown."""
    result: Dim = 1
    for v in values:
        if v is None:
            return None
        result = result * v
    return result


def spatial_axes(rank: int, data_format: str | None) -> tuple[int, ...]:
    """Indices of the spatial axes in a shape of `rank` (batch first)."""
    if data_format == "channels_first":
        return tuple(range(2, rank))
    return tuple(range(1, rank - 1))


def channel_axis(rank: int, data_format: str | None) -> int:
    return 1 if data_format == "channels_first" else rank - 1


def data_format(call: Call) -> str:
    value = call.config.get("data_format") or "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise call.fail(f"unknown data_format {value!r}")
    return value


def expect_rank(call: Call, rank: int) -> Shape:
    shape = call.shape
    if len(shape) != rank:
        raise call.fail(
            f"expects a {rank - 2}-D spatial input of rank {rank}, got shape {fmt(shape)}"
        )
    return shape


def fmt(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def known(value: Dim) -> bool:
    return value is not None


def is_int(value: Dim) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_symbolic(value: Dim) -> bool:
    """A sympy integer expression in the input size (cnncost.symbolic); never imports sympy."""
    return getattr(value, "is_integer", None) is True and hasattr(value, "free_symbols")


def is_size(value: Dim) -> bool:
    """A known size: an int, or an integer expression of symbolic input sizes."""
    return is_int(value) or is_symbolic(value)


def window_output_length(
    n: Dim, kernel: int, stride: int, dilation: int, padding: str, call: Call, axis: int
) -> Dim:
    """Keras's `compute_conv_output_shape` / `compute_pooling_output_shape` for one axis."""
    if n is None:
        return None
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        out = (n - effective) // stride + 1
    elif padding in ("same", "causal"):
        out = (n - 1) // stride + 1
    else:
        raise call.fail(f"unknown padding {padding!r}")
    if is_int(out) and out <= 0:
        raise call.fail(
            f"window {effective} (kernel {kernel}, dilation {dilation}) is larger than "
            f"its input size {n} on axis {axis} (input shape {fmt(call.shape)})"
        )
    return out


def set_axes(shape: Shape, values: Mapping[int, Dim]) -> Shape:
    return tuple(values.get(i, d) for i, d in enumerate(shape))


def weight(name: str, shape: Sequence[Dim], trainable: bool) -> Weight:
    """A variable of `shape`; a dim may be symbolic (Dense after Flatten of a symbolic input)."""
    if any(not is_size(d) for d in shape):
        raise FieldError(
            f"weight {name!r} has an unknown size {fmt(tuple(shape))}: its input dimension must be known"
        )
    if any(is_int(d) and d < 0 for d in shape):
        raise FieldError(f"weight {name!r} has a negative size {fmt(tuple(shape))}")
    if any(is_symbolic(d) and d.is_nonnegative is False for d in shape):
        raise FieldError(f"weight {name!r} has a negative size {fmt(tuple(shape))}")
    return Weight(
        name, tuple(d if is_symbolic(d) and d.free_symbols else int(d) for d in shape), trainable
    )


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)
