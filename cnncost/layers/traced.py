"""Rows a trace writes for the tensors a traced layer holds itself (cnncost.loaders.keras_trace).

A custom layer that creates a variable with `add_weight` (a class token, a position embedding, a
norm's scale) and uses it in `call` is traced like any other: each of its variables becomes one
`TracedWeight` row, and each constant tensor it keeps (`self.position_ids = ops.arange(n)`) one
`TracedConstant` row; the ops that use them are rows of their own, with their usual rules.

- TracedWeight: output = the variable itself, shape as declared (no batch dimension); params =
  the variable's size (trainable as recorded); no arithmetic. Its bytes are the weight's, counted
  once in the weight memory, not as an activation.
- TracedConstant: output = the stored tensor; no params, no arithmetic; its bytes are not an
  activation of the batch either (it exists once, whatever the batch size).

Neither depends on the model input, so neither has a receptive field, and whatever is computed
from them alone is computed once per call, not once per sample (`cnncost.passes.batch`).
"""

from __future__ import annotations

from cnncost.errors import LayerError
from cnncost.ir import Shape, batch_multiple
from cnncost.layers.base import Call, LayerRule, is_int, weight


def _declared_shape(call: Call) -> tuple[Shape, ...]:
    """The declared shape; a constant the traced code built from the batch size has a first axis
    None (the batch) or `k * batch` (`cnncost.ir.batch_symbol`), written so by the trace."""
    shape = call.config.get("shape")
    if isinstance(shape, list) and shape and (shape[0] is None or batch_multiple(shape[0])):
        if call.node.registered_name == CONSTANT:
            return ((shape[0], *_declared_shape_of(call, shape[1:])),)
    return (_declared_shape_of(call, shape),)


def _declared_shape_of(call: Call, shape) -> Shape:
    if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
        raise LayerError(
            f"layer {call.node.name!r} ({call.node.class_name}): shape must be a list of sizes, "
            f"not {shape!r}"
        )
    return tuple(shape)


def _variable(call: Call):
    trainable = call.config.get("trainable", True) is not False
    return (weight(str(call.config.get("name", "weight")), _declared_shape(call)[0], trainable),)


def _element(call: Call) -> tuple[Shape, ...]:
    # one element of each mapped tensor: its leading axis dropped
    if any(len(s) == 0 for s in call.input_shapes):
        raise call.fail("cannot map over a scalar")
    return tuple(tuple(s[1:]) for s in call.input_shapes)


def _stack(call: Call) -> tuple[Shape, ...]:
    # the mapped function's outputs (all inputs but the last), stacked along a new leading axis
    # as long as the mapped tensor's (the last input)
    *results, mapped = call.input_shapes
    if not results or not mapped:
        raise call.fail("expects the mapped function's outputs and the mapped tensor")
    return tuple((mapped[0], *s) for s in results)


WEIGHT = "cnncost>TracedWeight"
CONSTANT = "cnncost>TracedConstant"
ELEMENT = "cnncost>TracedElement"
STACK = "cnncost>TracedStack"

RULES = {
    WEIGHT: LayerRule(_declared_shape, weights=_variable, rf="input"),
    CONSTANT: LayerRule(_declared_shape, rf="input"),
    # ops.map(f, xs): data movement only (0 MACs, 0 FLOPs); the rows between them are f's, each
    # counted once per element (cnncost.passes.batch). The element's axis 0 is not the batch,
    # so the receptive field is not followed through a map.
    ELEMENT: LayerRule(_element, rf="reshape"),
    STACK: LayerRule(_stack, rf="reshape"),
}
