"""InputLayer, Dense (on N-D inputs), EinsumDense, Embedding, and layers that pass data through."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cnncost.ir import Shape, Weight
from cnncost.layers.base import Call, LayerRule, fmt, is_int, is_size, product, weight


def _input_shapes(call: Call) -> tuple[Shape, ...]:
    shape = call.config.get("batch_shape")
    if shape is None:
        raise call.fail("the input has no shape: pass --input-shape")
    shape = tuple(shape)
    if not shape or any(d is not None and (not is_int(d) or d <= 0) for d in shape[1:]):
        raise call.fail(f"sizes must be positive integers or None, not {fmt(shape)}")
    return (shape,)


def _last_dim(call: Call) -> int:
    shape = call.shape
    if len(shape) < 2 or not is_size(shape[-1]):
        raise call.fail(f"needs a known last input dimension, got {list(shape)}")
    return shape[-1]


def _units(call: Call) -> int:
    units = call.config.get("units")
    if not is_int(units) or units <= 0:
        raise call.fail(f"units must be a positive integer, not {units!r}")
    return units


def _dense_shapes(call: Call) -> tuple[Shape, ...]:
    _last_dim(call)
    return (call.shape[:-1] + (_units(call),),)


def lora_rank(call: Call) -> int:
    """The `lora_rank` of a Dense/EinsumDense/Embedding config (0: no LoRA)."""
    rank = call.config.get("lora_rank") or 0
    if not is_int(rank) or rank < 0:
        raise call.fail(f"lora_rank must be a non-negative integer, not {rank!r}")
    return rank


def _with_lora(call: Call, name: str, shape: tuple) -> tuple[Weight, ...]:
    """The kernel, and with LoRA (Keras's `lora_rank`) the frozen kernel plus its two trainable
    low-rank factors `lora_<name>_a` (kernel dims but the last, rank) and `_b` (rank, last dim)."""
    rank = lora_rank(call)
    if not rank:
        return (weight(name, shape, True),)
    return (
        weight(name, shape, False),
        weight(f"lora_{name}_a", (*shape[:-1], rank), True),
        weight(f"lora_{name}_b", (rank, shape[-1]), True),
    )


def _dense_weights(call: Call) -> tuple[Weight, ...]:
    units = _units(call)
    bias = (weight("bias", (units,), True),) if call.config.get("use_bias", True) else ()
    return (*_with_lora(call, "kernel", (_last_dim(call), units)), *bias)


def _dense_macs(call: Call, outputs):
    rows = product(call.shape[1:-1])  # Dense applies to the last axis at every other position
    return None if rows is None else rows * _last_dim(call) * _units(call)


# -- EinsumDense ---------------------------------------------------------------------------------

_EQUATION = re.compile(r"^([a-zA-Z.]+),([a-zA-Z.]+)->([a-zA-Z.]+)$")


@dataclass(frozen=True)
class _Einsum:
    """An EinsumDense equation resolved against the input shape."""

    sizes: dict
    input_axes: tuple[str, ...]
    kernel_axes: tuple[str, ...]
    output_axes: tuple[str, ...]

    def shape(self, axes) -> tuple:
        return tuple(self.sizes.get(a) for a in axes)


def _einsum(call: Call) -> _Einsum:
    equation = str(call.config.get("equation", "")).replace(" ", "")
    match = _EQUATION.match(equation)
    if not match:
        raise call.fail(f"unsupported equation {equation!r}")
    inp, ker, out = match.groups()
    shape = call.shape
    if inp.startswith("..."):
        # '...' stands for the leading input axes, batch included.
        lead = "".join(f"#{i}" for i in range(len(shape) - (len(inp) - 3)))
        inp = lead + inp[3:]
        out = lead + out[3:] if out.startswith("...") else out
    input_axes = tuple(re.findall(r"#\d+|[a-zA-Z]", inp))
    output_axes = tuple(re.findall(r"#\d+|[a-zA-Z]", out))
    if len(input_axes) != len(shape):
        raise call.fail(f"equation {equation!r} does not match input rank {len(shape)}")
    sizes = dict(zip(input_axes, shape))
    declared = call.config.get("output_shape")
    declared = [declared] if declared is None or is_int(declared) else list(declared)
    # The declared output_shape omits the batch axis (and any '...' axes): align it at the end.
    for axis, size in zip(output_axes[len(output_axes) - len(declared) :], declared):
        if size is not None:
            sizes.setdefault(axis, size)
    return _Einsum(sizes, input_axes, tuple(re.findall(r"[a-zA-Z]", ker)), output_axes)


def _einsum_shapes(call: Call) -> tuple[Shape, ...]:
    spec = _einsum(call)
    return (spec.shape(spec.output_axes),)


def _einsum_weights(call: Call) -> tuple[Weight, ...]:
    spec = _einsum(call)
    weights = list(_with_lora(call, "kernel", spec.shape(spec.kernel_axes)))
    bias_axes = call.config.get("bias_axes")
    if bias_axes:
        first = min(spec.output_axes.index(a) for a in bias_axes)
        bias = tuple(spec.sizes[a] if a in bias_axes else 1 for a in spec.output_axes[first:])
        weights.append(weight("bias", bias, True))
    return tuple(weights)


def _einsum_macs(call: Call, outputs):
    # One multiply-add per point of the joint index space of all axes except the batch axis.
    spec = _einsum(call)
    axes = set(spec.input_axes[1:]) | set(spec.output_axes[1:]) | set(spec.kernel_axes)
    return product([spec.sizes.get(a) for a in sorted(axes)])


# -- Embedding -----------------------------------------------------------------------------------


def _embedding_dims(call: Call) -> tuple[int, int]:
    dims = call.config.get("input_dim"), call.config.get("output_dim")
    if not all(is_int(d) and d > 0 for d in dims):
        raise call.fail(f"input_dim/output_dim must be positive integers, not {dims}")
    return dims


RULES = {
    "InputLayer": LayerRule(_input_shapes, rf="input"),
    "Dense": LayerRule(_dense_shapes, _dense_weights, _dense_macs, cost="dense"),
    "EinsumDense": LayerRule(
        _einsum_shapes, _einsum_weights, _einsum_macs, rf="reshape", cost="dense"
    ),
    "Embedding": LayerRule(
        lambda c: (c.shape + (_embedding_dims(c)[1],),),
        lambda c: _with_lora(c, "embeddings", _embedding_dims(c)),
        rf="reshape",
    ),
}

# Identity at inference: the output is the input, no weights, no arithmetic counted.
INFERENCE_IDENTITY = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)
# Masking passes its input through too (its mask is a side output, not counted in `full`).
for _name in (*INFERENCE_IDENTITY, "Masking"):
    RULES[_name] = LayerRule()


# -- ReversibleEmbedding (keras/src/layers/core/reversible_embedding.py) ---------------------------
# An Embedding (input_dim, output_dim) plus, with tie_weights=False, a trainable
# `reverse_embeddings` (output_dim, input_dim). Called with reverse=True it projects the last
# axis (output_dim) to logits over the vocabulary: output_dim * input_dim MACs per position;
# logit_soft_cap c: c * tanh(logits / c).


def _reverse(call: Call) -> bool:
    return bool(call.node.keyword_arguments.get("reverse"))


def _reversible_shapes(call: Call) -> tuple[Shape, ...]:
    input_dim, output_dim = _embedding_dims(call)
    if not _reverse(call):
        return (call.shape + (output_dim,),)
    if call.shape[-1] is not None and call.shape[-1] != output_dim:
        raise call.fail(f"reverse=True needs a last axis of {output_dim}, got {call.shape[-1]}")
    return (call.shape[:-1] + (input_dim,),)


def _reversible_weights(call: Call) -> tuple[Weight, ...]:
    input_dim, output_dim = _embedding_dims(call)
    weights = [weight("embeddings", (input_dim, output_dim), True)]
    if not call.config.get("tie_weights", True):
        weights.append(weight("reverse_embeddings", (output_dim, input_dim), True))
    return tuple(weights)


def _reversible_macs(call: Call, outputs):
    if not _reverse(call):
        return 0
    input_dim, output_dim = _embedding_dims(call)
    positions = product(call.shape[1:-1])
    return None if positions is None else positions * output_dim * input_dim


def _reversible_counts(call: Call, outputs):
    if not (_reverse(call) and call.config.get("logit_soft_cap")):
        return {}
    logits = product(outputs[0][1:])
    return {
        "activation:tanh": logits,
        "pointwise_multiply": None if logits is None else 2 * logits,  # / c, * c
    }


RULES["ReversibleEmbedding"] = LayerRule(
    _reversible_shapes,
    _reversible_weights,
    _reversible_macs,
    rf="reshape",
    element_counts=_reversible_counts,
)

# keras.layers classes that are not layers a model config can describe with numbers.
EXCLUDED = {
    "Layer": "the base class: a custom subclass is costed by a plugin rule (docs/plugins.md)",
    "Wrapper": "an abstract base class of wrappers (TimeDistributed, Bidirectional, ...)",
    "InputSpec": "describes the inputs a layer accepts; not a layer, never in a model graph",
    "Lambda": "runs arbitrary Python code that cnncost never runs (row `unsupported`)",
    "TFSMLayer": (
        "wraps a TensorFlow SavedModel endpoint: the graph is in the SavedModel, not in the "
        "Keras config (cnncost reads a SavedModel folder directly)"
    ),
    "JaxLayer": "wraps a JAX function whose code is not in the config and is never run",
    "FlaxLayer": "wraps a Flax module whose code is not in the config and is never run",
    "TorchModuleWrapper": (
        "wraps a PyTorch module, serialized as a pickled object that cnncost never loads"
    ),
    "Pipeline": (
        "a preprocessing container meant for tf.data pipelines (its layers run outside the "
        "model); not expanded"
    ),
}
