"""Normalization layers. BatchNormalization's moving statistics are non-trainable (as Keras
counts them); the trainable count is what papers and torchvision report."""

from __future__ import annotations

from cnncost.ir import Weight
from cnncost.layers.base import Call, LayerRule, is_int, weight


def _axes(call: Call, default) -> list[int]:
    axis = call.config.get("axis", default)
    axes = [axis] if is_int(axis) else list(axis) if isinstance(axis, (list, tuple)) else None
    rank = len(call.shape)
    if axes is None or not all(is_int(a) and -rank <= a < rank for a in axes):
        raise call.fail(f"axis {axis!r} is out of range for an input of rank {rank}")
    return [a % rank for a in axes]


def _param_shape(call: Call, default) -> tuple:
    return tuple(call.shape[a] for a in _axes(call, default))


def _batch_norm_weights(call: Call) -> tuple[Weight, ...]:
    shape = _param_shape(call, -1)
    cfg = call.config
    return (
        *((weight("gamma", shape, True),) if cfg.get("scale", True) else ()),
        *((weight("beta", shape, True),) if cfg.get("center", True) else ()),
        weight("moving_mean", shape, False),
        weight("moving_variance", shape, False),
    )


def _layer_norm_weights(call: Call) -> tuple[Weight, ...]:
    shape = _param_shape(call, -1)
    cfg = call.config
    rms = cfg.get("rms_scaling", False)
    return (
        *((weight("gamma", shape, True),) if cfg.get("scale", True) or rms else ()),
        *((weight("beta", shape, True),) if cfg.get("center", True) and not rms else ()),
    )


def _group_norm_weights(call: Call) -> tuple[Weight, ...]:
    shape = _param_shape(call, -1)
    cfg = call.config
    return (
        *((weight("gamma", shape, True),) if cfg.get("scale", True) else ()),
        *((weight("beta", shape, True),) if cfg.get("center", True) else ()),
    )


def _rms_norm_weights(call: Call) -> tuple[Weight, ...]:
    # keras.layers.RMSNormalization: one trainable `scale` over the normalised axes.
    return (weight("scale", _param_shape(call, -1), True),)


def _normalization_weights(call: Call) -> tuple[Weight, ...]:
    # keras.layers.Normalization: when mean/variance are not given in the config, it creates
    # adapt_mean and adapt_variance (broadcast over the kept axes) and a scalar count.
    if call.config.get("mean") is not None and call.config.get("variance") is not None:
        return ()
    shape = _param_shape(call, -1)
    return (
        weight("mean", shape, False),
        weight("variance", shape, False),
        weight("count", (), False),
    )


def _all_but_batch(call: Call) -> tuple[int, ...]:
    return tuple(range(1, len(call.shape)))


RULES = {
    "BatchNormalization": LayerRule(weights=_batch_norm_weights, cost="batch_norm"),
    "SyncBatchNormalization": LayerRule(weights=_batch_norm_weights, cost="batch_norm"),
    # Statistics over `axis` (over space too where it names spatial axes): rf "reduce".
    "LayerNormalization": LayerRule(
        weights=_layer_norm_weights,
        cost="layer_norm",
        rf="reduce",
        reduced_axes=lambda c: tuple(_axes(c, -1)),
    ),
    # Group statistics span all spatial positions.
    "GroupNormalization": LayerRule(
        weights=_group_norm_weights, cost="layer_norm", rf="reduce", reduced_axes=_all_but_batch
    ),
    "RMSNormalization": LayerRule(
        weights=_rms_norm_weights,
        cost="rms_norm",
        rf="reduce",
        reduced_axes=lambda c: tuple(_axes(c, -1)),
    ),
    "UnitNormalization": LayerRule(
        cost="unit_norm", rf="reduce", reduced_axes=lambda c: tuple(_axes(c, -1))
    ),
    "Normalization": LayerRule(weights=_normalization_weights, cost="normalization"),
}
