"""Layers of third-party model zoos that cnncost knows by their registered name ("package>Class",
what `keras.saving.register_keras_serializable(package=...)` writes as `registered_name`), or,
for a class registered under no package, by its module and class name
("keras_hub.src.models.mit.mit_layers.DropPath", see `third_party_key`).

cnncost never imports these packages: each rule states what the class computes, read from the
package's source, and tests/layers/test_third_party.py checks it against the package itself
(shapes and params), as the zoo tier does on whole models. A class sharing one of these class
names under another package gets none of them (`cnncost.layers.rule_for`).
"""

from __future__ import annotations

from cnncost.ir import Node, Shape
from cnncost.layers.base import Call, LayerRule, is_int, weight


def third_party_key(node: Node) -> str:
    """The key of a third-party class: its registered name when it names a package, else
    `module.Class` (a class that shares its bare name with others, as keras-hub's DropPaths)."""
    registered = node.registered_name or ""
    if ">" in registered:
        return registered
    return f"{node.module}.{node.class_name}" if node.module else ""


def _kimm_layer_scale_weights(call: Call):
    """kimm LayerScale: y = x * gamma, gamma over the input's `axis` (an int or a list)."""
    axis = call.config.get("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    rank = len(call.shape)
    if not axes or not all(is_int(a) and -rank <= a < rank for a in axes):
        raise call.fail(f"axis {axis!r} is out of range for an input of rank {rank}")
    return (weight("gamma", tuple(call.shape[a] for a in axes), True),)


def _kimm_learnable_affine_weights(call: Call):
    """kimm LearnableAffine: y = x * scale + bias, two trainable scalars."""
    return (weight("scale", (), True), weight("bias", (), True))


def _kimm_position_embedding_shape(call: Call) -> tuple[Shape, ...]:
    """kimm PositionEmbedding: a class token is prepended to the (batch, tokens, channels)
    input, then a learned (1, tokens + 1, channels) embedding added."""
    shape = call.shape
    if len(shape) != 3:
        raise call.fail(f"expects (batch, tokens, channels), got rank {len(shape)}")
    tokens = None if shape[1] is None else shape[1] + 1
    return ((shape[0], tokens, shape[2]),)


def _kimm_position_embedding_weights(call: Call):
    _, tokens, channels = call.shape
    height, width = call.config.get("height"), call.config.get("width")
    if is_int(height) and is_int(width) and tokens is not None and height * width != tokens:
        raise call.fail(f"height*width = {height}*{width} is not the {tokens} input tokens")
    return (
        weight("pos_embed", (1, tokens + 1, channels), True),
        weight("cls_token", (1, 1, channels), True),
    )


def _keras_hub_layer_scale_weights(call: Call):
    """keras-hub DINOV2LayerScale: y = x * lambda1, lambda1 of shape (hidden_dim,)."""
    dim = call.config.get("hidden_dim")
    if not is_int(dim) or dim <= 0:
        raise call.fail(f"hidden_dim must be a positive integer, not {dim!r}")
    return (weight("lambda1", (dim,), True),)


# Stochastic depth: identity at inference (`call` returns x unless training); no weights.
_DROP_PATH = LayerRule()

RULES = {
    "kimm>LayerScale": LayerRule(weights=_kimm_layer_scale_weights, cost="layer_scale"),
    "kimm>LearnableAffine": LayerRule(weights=_kimm_learnable_affine_weights, cost="scalar_affine"),
    # keras-hub HGNetV2LearnableAffineBlock: y = scale * x + bias, two trainable scalars
    "keras_hub>HGNetV2LearnableAffineBlock": LayerRule(
        weights=_kimm_learnable_affine_weights, cost="scalar_affine"
    ),
    "keras_hub.src.models.dinov2.dinov2_layers.DINOV2LayerScale": LayerRule(
        weights=_keras_hub_layer_scale_weights, cost="layer_scale"
    ),
    "keras_hub.src.models.mit.mit_layers.DropPath": _DROP_PATH,
    "keras_hub.src.models.mobilenetv5.mobilenetv5_layers.DropPath": _DROP_PATH,
    "keras_hub.src.models.swin_transformer.swin_transformer_layers.DropPath": _DROP_PATH,
    # the class token is copied in (no arithmetic); the positional add is one add per output
    "kimm>PositionEmbedding": LayerRule(
        _kimm_position_embedding_shape,
        weights=_kimm_position_embedding_weights,
        rf="reshape",
        cost="add_embedding",
    ),
}
