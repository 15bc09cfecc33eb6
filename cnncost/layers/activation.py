"""Activation layers: elementwise, so shapes pass through and the RF is pointwise.

The FLOP cost of each activation function is a row of the convention table, keyed
`activation:<name>`; the `activation=` argument of Conv/Dense layers uses the same rows.
"""

from __future__ import annotations

from cnncost.ir import Weight
from cnncost.layers.base import Call, LayerRule, is_int, weight


def activation_name(value) -> str:
    """Name of an activation in a config: a string, or a serialized function/object."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        config = value.get("config")
        if isinstance(config, str):
            return config
        if isinstance(config, dict) and isinstance(config.get("name"), str):
            return config["name"]
        if isinstance(value.get("class_name"), str):
            return value["class_name"]
    return "unknown"


def _prelu_weights(call: Call) -> tuple[Weight, ...]:
    shape = list(call.shape[1:])
    shared = call.config.get("shared_axes") or []
    if is_int(shared):
        shared = [shared]
    for axis in shared:
        if not is_int(axis) or not 1 <= axis <= len(shape):
            raise call.fail(f"shared_axes entry {axis!r} is out of range")
        shape[axis - 1] = 1
    return (weight("alpha", shape, True),)


RULES = {
    "Activation": LayerRule(cost="activation"),
    "ReLU": LayerRule(cost="relu_layer"),
    "LeakyReLU": LayerRule(cost="leaky_relu_layer"),
    "PReLU": LayerRule(weights=_prelu_weights, cost="prelu_layer"),
    "ELU": LayerRule(cost="elu_layer"),
    "Softmax": LayerRule(cost="softmax_layer"),
    "ThresholdedReLU": LayerRule(cost="relu_layer"),
}
