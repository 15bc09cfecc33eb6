"""Layers defined inside `keras.applications` (their config names them as registered classes)."""

from __future__ import annotations

from cnncost.layers.base import Call, LayerRule, is_int, weight


def _layer_scale_weights(call: Call):
    dim = call.config.get("projection_dim")
    if not is_int(dim) or dim <= 0:
        raise call.fail(f"projection_dim must be a positive integer, not {dim!r}")
    return (weight("gamma", (dim,), True),)


RULES = {
    # ConvNeXt: x * gamma, gamma of shape (projection_dim,).
    "LayerScale": LayerRule(weights=_layer_scale_weights, cost="layer_scale"),
    # InceptionResNetV2: inputs[0] + inputs[1] * scale.
    "CustomScaleLayer": LayerRule(lambda c: (c.input_shapes[0],), rf="merge", cost="scale_add"),
}
