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
from cnncost.ir import Shape
from cnncost.layers.base import Call, LayerRule, is_int, weight


def _declared_shape(call: Call) -> tuple[Shape, ...]:
    shape = call.config.get("shape")
    if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
        raise LayerError(
            f"layer {call.node.name!r} ({call.node.class_name}): shape must be a list of sizes, "
            f"not {shape!r}"
        )
    return (tuple(shape),)


def _variable(call: Call):
    trainable = call.config.get("trainable", True) is not False
    return (weight(str(call.config.get("name", "weight")), _declared_shape(call)[0], trainable),)


WEIGHT = "cnncost>TracedWeight"
CONSTANT = "cnncost>TracedConstant"

RULES = {
    WEIGHT: LayerRule(_declared_shape, weights=_variable, rf="input"),
    CONSTANT: LayerRule(_declared_shape, rf="input"),
}
