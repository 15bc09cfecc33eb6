"""The tf-profiler convention equals TensorFlow's own profiler, layer by layer (slow: real TF).

Run time on 2 CPU cores: about 1-2 minutes for all nine models (see docs/conventions.md).
"""

from __future__ import annotations

import math

import pytest
from support.models import seed_cnn

from cnncost.analysis import analyze, load_graph
from cnncost.layers import registry_key

FULLY_SEEN = ["ResNet50", "MobileNetV2", "EfficientNetB0", "VGG16", "DenseNet121", "InceptionV3"]


def _model(name):
    import keras

    return seed_cnn() if name == "seed" else getattr(keras.applications, name)(weights=None)


def _compare(model):
    """Our rows vs the profiler's; returns (report, profiler total)."""
    from support.tf_profiler_reference import profile_model

    total, reference = profile_model(model)
    graph = load_graph(model)
    report = analyze(graph, flops_convention="tf-profiler")
    assert report.conventions["flops"] == "tf-profiler"
    # keras.ops nodes run under op scopes (`Add_3`) that do not name our rows: compare their sum.
    ops_nodes = {n.name for n in graph.nodes if registry_key(n).startswith("ops.")}
    ops_ours = 0
    layer_rows = set()
    for row in report.layers:
        if row.name in ops_nodes:
            ops_ours += row.extra["flops"]
            continue
        layer_rows.add(row.name)
        measured = sum(reference.get(row.name, {}).values())
        assert row.extra["flops"] == measured, (row.name, row.type, reference.get(row.name))
    ops_reference = sum(sum(v.values()) for k, v in reference.items() if k.startswith("ops:"))
    assert ops_ours == ops_reference
    assert set(k for k in reference if not k.startswith("ops:")) <= layer_rows
    assert report.totals["flops"] == total
    return report, total


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seed", *FULLY_SEEN])
def test_profiler_convention_equals_tensorflow_profiler(name):
    report, _ = _compare(_model(name))
    assert not any("does not see" in w or "not modelled" in w for w in report.warnings)


@pytest.mark.slow
def test_convnext_grouped_convs_are_reported_as_missed():
    import keras

    model = _model("ConvNeXtTiny")
    report, total = _compare(model)
    grouped = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1
    ]
    assert len(grouped) == 18
    # What the profiler does not see: each grouped conv (2 * MACs + its bias add) and the
    # LayerNormalization right after it (its input has no static shape after the XLA call):
    # moments 4N + batch_normalization 5N + 4G (G = positions normalized separately).
    missed = 0
    for layer in grouped:
        out = math.prod(layer.output.shape[1:])
        kh, kw = layer.kernel_size
        missed += 2 * out * kh * kw * (layer.input.shape[-1] // layer.groups) + out
        positions = math.prod(layer.output.shape[1:-1])
        missed += 9 * out + 4 * positions
    warning = next(w for w in report.warnings if "does not see" in w)
    assert f"does not see {missed} FLOPs of 36 layers" in warning
    assert grouped[0].name in warning
    full = analyze(model)
    # The profiler's total is less than the work done by the grouped convs' share at least.
    assert full.totals["macs"] * 2 > total


# -- every rule, one tiny model at a time -----------------------------------------------------------

ACTIVATION_NAMES = [
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus",
    "softsign", "exponential", "log_softmax", "softmax", "gelu", "silu", "swish", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "celu", "hard_shrink", "soft_shrink", "tanh_shrink",
    "log_sigmoid", "mish", "sparse_plus", "sparse_sigmoid", "squareplus", "sparsemax",
]  # fmt: skip


def _chain(shape, *layers):
    import keras

    x = keras.Input(shape)
    y = x
    for layer in layers:
        y = layer(y)
    return keras.Model(x, y)


def _tiny_models():
    """name -> builder of a single-input model; together they exercise every tf_profiler rule."""
    import keras

    L = keras.layers

    def mha(**kwargs):
        def build(shape):
            x = keras.Input(shape)
            return keras.Model(x, L.MultiHeadAttention(**kwargs)(x, x))

        return build

    def merges(shape):
        x = keras.Input(shape)
        y = L.Dense(shape[-1])(x)
        out = L.Add()([x, y, x])
        out = L.Subtract()([out, y])
        out = L.Multiply()([out, y, y])
        out = L.Average()([out, x, y])
        out = L.Maximum()([out, x])
        out = L.Minimum()([out, y, x])
        out = keras.ops.add(keras.ops.multiply(out, 2.0), 1.0)  # a scalar is an operand too
        return keras.Model(x, out)

    def ops_data_movement(shape):
        x = keras.Input(shape)
        moved = keras.ops.transpose(keras.ops.concatenate([x, x], axis=-1), (0, 2, 1, 3))
        return keras.Model(x, keras.ops.reshape(moved, (-1, 2 * math.prod(shape))))

    def custom_scale(shape):
        from keras.src.applications.convnext import LayerScale
        from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

        x = keras.Input(shape)
        y = L.Dense(shape[-1])(x)
        return keras.Model(x, LayerScale(1e-6, shape[-1])(CustomScaleLayer(0.17)([x, y])))

    return {
        "activations": lambda: _chain(
            (3, 4), *[L.Activation(a) for a in ACTIVATION_NAMES], L.Activation("glu")
        ),
        "fused_activations": lambda: _chain(
            (6,),
            L.Dense(4, activation="gelu"),
            L.Dense(6, activation="hard_silu", use_bias=False),
            L.Dense(4, activation="sparsemax"),
            L.Dense(6, activation="mish"),
        ),
        "activation_layers": lambda: _chain(
            (3, 4, 2),
            L.ReLU(),
            L.ReLU(max_value=6.0),
            L.ReLU(max_value=3.0),
            L.ReLU(negative_slope=0.1),
            L.ReLU(threshold=0.5),
            L.ReLU(max_value=6.0, threshold=0.5),
            L.ReLU(max_value=3.0, negative_slope=0.1),
            L.ReLU(max_value=3.0, negative_slope=0.1, threshold=0.5),
            L.LeakyReLU(0.1),
            L.ELU(),
            L.ELU(alpha=0.5),
            L.PReLU(),
            L.PReLU(shared_axes=[1, 2]),
            L.Softmax(),
            L.Softmax(axis=1),
            L.Softmax(axis=(1, 2)),
            L.Masking(),
            L.ActivityRegularization(0.1),
            L.Rescaling(0.5, 1.0),
        ),
        "batch_norm": lambda: _chain(
            (3, 4, 6),
            L.BatchNormalization(),
            L.BatchNormalization(center=False),
            L.BatchNormalization(scale=False),
            L.BatchNormalization(center=False, scale=False),
            L.BatchNormalization(axis=1),
            L.BatchNormalization(synchronized=True),
        ),
        "layer_norm": lambda: _chain(
            (3, 4, 6),
            L.LayerNormalization(),
            L.LayerNormalization(center=False),
            L.LayerNormalization(scale=False),
            L.LayerNormalization(center=False, scale=False),
            L.LayerNormalization(rms_scaling=True),
            L.LayerNormalization(axis=[2, 3]),
            L.UnitNormalization(),
            L.UnitNormalization(axis=[1, 2]),
            L.Normalization(axis=-1, mean=[1] * 6, variance=[2] * 6),
            L.Normalization(axis=-1, mean=[1] * 6, variance=[2] * 6, invert=True),
        ),
        "group_norm": lambda: _chain(
            (3, 4, 6),
            L.GroupNormalization(groups=2),
            L.GroupNormalization(groups=3, center=False),
            L.GroupNormalization(groups=3, scale=False),
            L.GroupNormalization(groups=6, center=False, scale=False),
            L.GroupNormalization(groups=-1),
        ),
        "einsum_dense": lambda: _chain(
            (4, 5),
            L.EinsumDense("abc,cd->abd", output_shape=(4, 3), bias_axes="d"),
            L.EinsumDense("abc,cde->abde", output_shape=(4, 2, 3), bias_axes="de"),
            L.EinsumDense("abcd,cde->abe", output_shape=(4, 5), activation="relu"),
            L.EinsumDense("abc,bd->acd", output_shape=(5, 3), bias_axes="d"),
            L.EinsumDense("...b,bc->...c", output_shape=4, bias_axes="c", activation="gelu"),
        ),
        "einsum_dense_rank2": lambda: _chain(
            (5,), L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c")
        ),
        "attention_sequence": mha(num_heads=2, key_dim=3),
        "attention_options": mha(
            num_heads=2, key_dim=3, value_dim=5, output_shape=7, use_bias=False
        ),  # fmt: skip
        "attention_dropout": mha(num_heads=2, key_dim=3, dropout=0.1),
        "attention_image": mha(num_heads=2, key_dim=3),
        "attention_axis": mha(num_heads=2, key_dim=3, attention_axes=(2,)),
        "conv_1d": lambda: _chain(
            (15, 4),
            L.Conv1D(4, 3),
            L.Conv1D(4, 3, strides=2, padding="same"),
            L.Conv1D(4, 2, padding="causal", dilation_rate=2, activation="silu"),
            L.Conv1D(4, 3, dilation_rate=2, padding="same"),
            L.DepthwiseConv1D(3, depth_multiplier=2, padding="same"),
            L.SeparableConv1D(4, 3, dilation_rate=2),
            L.Conv1DTranspose(3, 3, strides=2),
            L.Conv1DTranspose(3, 4, strides=3, padding="same"),
            L.MaxPooling1D(3, strides=2),
            L.AveragePooling1D(2, padding="same"),
            L.UpSampling1D(3),
            L.GlobalAveragePooling1D(),
        ),
        "conv_2d": lambda: _chain(
            (7, 8, 3),
            L.Conv2D(4, 3, dilation_rate=2, padding="same"),
            L.DepthwiseConv2D(3, dilation_rate=(2, 1)),
            L.SeparableConv2D(4, 3, dilation_rate=2, padding="same"),
            L.Conv2DTranspose(3, (3, 2), strides=(2, 3)),
            L.Conv2DTranspose(3, 3, padding="same", dilation_rate=2),
            L.Conv2DTranspose(3, 3, strides=2, output_padding=1),
            L.GlobalMaxPooling2D(),
        ),
        "conv_3d": lambda: _chain(
            (4, 6, 5, 2),
            L.Conv3D(3, (2, 3, 2), strides=(1, 2, 1), padding="same"),
            L.Conv3D(3, 2, dilation_rate=2, padding="same"),
            L.Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 2), padding="same"),
            L.MaxPooling3D((2, 3, 2)),
            L.AveragePooling3D(2, strides=1, padding="same"),
            L.UpSampling3D((2, 1, 3)),
            L.GlobalAveragePooling3D(),
        ),
        "grouped_conv": lambda: _chain((5, 6, 4), L.Conv2D(4, 3, groups=2), L.Activation("relu")),
        "resizing": lambda: _chain(
            (4, 6, 2),
            L.Resizing(8, 9),
            L.Resizing(5, 4, interpolation="nearest"),
            L.Resizing(6, 7, interpolation="bicubic"),
            L.Resizing(8, 6, interpolation="area"),
            L.Resizing(5, 5, interpolation="lanczos3"),
            L.Resizing(6, 7, interpolation="lanczos5"),
            L.Resizing(4, 8, crop_to_aspect_ratio=True),
            L.UpSampling2D((2, 3)),
            L.UpSampling2D(2, interpolation="bilinear"),
            L.CenterCrop(7, 9),
            L.UpSampling2D((1, 2), interpolation="bicubic"),
            L.UpSampling2D(1, interpolation="lanczos3"),
        ),
        "merges": lambda: merges((3, 4)),
        "application_layers": lambda: custom_scale((3, 4)),
        "ops_data_movement": lambda: ops_data_movement((4, 6, 5)),
    }


_SHAPES = {"attention_image": (3, 4, 6), "attention_axis": (3, 4, 6)}
TINY_MODELS = [
    "activations", "fused_activations", "activation_layers", "batch_norm", "layer_norm",
    "group_norm", "einsum_dense", "einsum_dense_rank2", "attention_sequence",
    "attention_options", "attention_dropout", "attention_image", "attention_axis", "conv_1d",
    "conv_2d", "conv_3d", "grouped_conv", "resizing", "merges", "application_layers",
    "ops_data_movement",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY_MODELS)
def test_layer_rule_equals_tensorflow_profiler(name):
    builder = _tiny_models()[name]
    model = builder(_SHAPES.get(name, (4, 6))) if name.startswith("attention") else builder()
    report, _ = _compare(model)
    assert not [w for w in report.warnings if "not modelled" in w], report.warnings


# -- fast: the rules as arithmetic (no TensorFlow profiler run) --------------------------------------


def _rows(model):
    report = analyze(model, flops_convention="tf-profiler")
    return {row.name: row.extra["flops"] for row in report.layers}, report.warnings


def test_dilated_conv_counts_the_space_to_batch_padding():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [keras.Input((7, 8, 2)), L.Conv2D(3, 3, dilation_rate=2, padding="same", name="c")]
    )
    flops, warnings = _rows(model)
    # Each axis padded by d*(k-1) = 4 and up to a multiple of 2: 7 -> 11 -> 12, 8 -> 12; the
    # undilated 3x3 kernel then computes 12 - 4 = 8 positions per axis, not 7 x 8.
    assert flops["c"] == 2 * (8 * 8 * 3) * 3 * 3 * 2 + 7 * 8 * 3
    assert any("SpaceToBatchND (c)" in w for w in warnings)


def test_normalization_variants():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((3, 4, 6)),
            L.GroupNormalization(groups=2, name="gn"),
            L.GroupNormalization(groups=3, center=False, scale=False, name="gn_plain"),
            L.LayerNormalization(center=False, name="ln_scale"),
            L.LayerNormalization(scale=False, name="ln_center"),
            L.BatchNormalization(center=False, name="bn"),
        ]
    )
    flops, _ = _rows(model)
    n, c = 3 * 4 * 6, 6
    assert flops["gn"] == 6 * n + 4 * 2 + 3 * c
    assert flops["gn_plain"] == 6 * n + 5 * 3
    assert flops["ln_scale"] == 8 * n + 4 * (3 * 4)
    assert flops["ln_center"] == 7 * n + 5 * (3 * 4)
    assert flops["bn"] == 2 * n + 6 * c


def test_attention_matmuls_are_missed_with_a_warning():
    import keras

    x = keras.Input((4, 6))
    model = keras.Model(
        x, keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(x, x)
    )
    flops, warnings = _rows(model)
    positions, heads, key_dim, scores = 4, 2, 3, 2 * 4 * 4
    projections = 4 * 2 * positions * 6 * heads * key_dim  # q, k, v, output: matmuls
    biases = 3 * positions * heads * key_dim + positions * 6
    assert flops["mha"] == projections + biases + scores + 5 * scores
    missed = 2 * (scores * key_dim + scores * key_dim)
    warning = next(w for w in warnings if "does not see" in w)
    assert f"does not see {missed} FLOPs of 1 layers (mha)" in warning
    assert "Einsum op" in warning


def test_einsum_dense_outside_the_matmul_rewrites_is_missed():
    import keras

    model = keras.Sequential(
        [
            keras.Input((3, 4, 5)),
            keras.layers.EinsumDense("abcd,de->abce", (None, None, 2), bias_axes="e", name="e"),
        ]
    )
    flops, warnings = _rows(model)
    assert flops["e"] == 3 * 4 * 2  # the BiasAdd only
    assert any(f"does not see {2 * 3 * 4 * 5 * 2} FLOPs" in w for w in warnings)


def test_zero_counts_and_unmodelled_rows_are_named_in_warnings():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((4, 6, 2)),
            L.Resizing(8, 8, interpolation="bilinear", name="resize"),
            L.Resizing(4, 4, pad_to_aspect_ratio=True, name="pad"),
            L.Activation("relu", name="act"),
        ]
    )
    report = analyze(model, flops_convention="tf-profiler")
    rows = {row.name: row for row in report.layers}
    assert rows["resize"].extra["flops"] == 0 and rows["act"].extra["flops"] == 0
    assert rows["pad"].extra["flops"] is None and rows["pad"].status == "partial"
    zero = next(w for w in report.warnings if "counts 0 FLOPs" in w)
    assert "ResizeBilinear (resize)" in zero and "Relu (act)" in zero
    assert any(w.startswith("pad: tf-profiler convention") for w in report.warnings)


def test_relu_layer_variants():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((3, 4)),
            L.ReLU(max_value=3.0, name="clip"),
            L.ReLU(max_value=6.0, name="six"),
            L.ReLU(max_value=3.0, negative_slope=0.1, threshold=0.5, name="all"),
            L.PReLU(name="prelu"),
        ]
    )
    flops, _ = _rows(model)
    n = 12
    assert flops["clip"] == (1 + 1) * n  # Minimum, Maximum
    assert flops["six"] == 0  # Relu6
    # Neg, AddV2 (negative part), Greater (threshold), Minimum, Maximum, Mul, Sub
    assert flops["all"] == 7 * n
    assert flops["prelu"] == 3 * n + n  # Neg, Mul, AddV2 per element + Neg of alpha


def test_causal_attention_is_not_modelled_with_a_reason():
    import keras

    x = keras.Input((4, 6))
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    model = keras.Model(x, layer(x, x, use_causal_mask=True))
    report = analyze(model, flops_convention="tf-profiler")
    row = next(r for r in report.layers if r.name == "mha")
    assert row.extra["flops"] is None and row.status == "partial"
    assert any(
        "mha: tf-profiler convention" in w and "use_causal_mask" in w for w in report.warnings
    )


# -- after XLA-compiled grouped convolutions (issue 12, item 7) -------------------------------------


def resnext_blocks(size=32, blocks=2):
    """ResNeXt-style bottlenecks: 1x1 -> BN -> ReLU -> grouped 3x3 -> BN -> ReLU -> 1x1 -> BN,
    residual Add, then GAP and a classifier."""
    import keras

    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", name="stem")(inp)
    for i in range(blocks):
        y = L.ReLU(name=f"b{i}_r1")(L.BatchNormalization(name=f"b{i}_bn1")(L.Conv2D(16, 1)(x)))
        y = L.Conv2D(16, 3, padding="same", groups=4, name=f"b{i}_grouped")(y)
        y = L.ReLU(name=f"b{i}_r2")(L.BatchNormalization(name=f"b{i}_bn2")(y))
        y = L.BatchNormalization(name=f"b{i}_bn3")(L.Conv2D(16, 1, name=f"b{i}_c3")(y))
        x = L.ReLU(name=f"b{i}_out")(L.Add(name=f"b{i}_add")([x, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(10, name="fc")(x))


def conv_mixer_grouped(size=32, dim=16, depth=2, patch=4, kernel=5):
    """ConvMixer (Trockman & Kolter) with its depthwise conv written as Conv2D(groups=dim)."""
    import keras

    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(dim, patch, strides=patch, name="patches")(inp)
    x = L.BatchNormalization()(L.Activation("gelu")(x))
    for i in range(depth):
        y = L.Conv2D(dim, kernel, groups=dim, padding="same", name=f"mix{i}_depthwise")(x)
        y = L.BatchNormalization()(L.Activation("gelu")(y))
        x = L.Add()([x, y])
        x = L.Conv2D(dim, 1, name=f"mix{i}_pointwise")(x)
        x = L.BatchNormalization()(L.Activation("gelu")(x))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(10)(x))


def regnet_style(se: bool, size=32, widths=(16, 32), group_width=8):
    """RegNetX blocks (Radosavovic et al.): 1x1 -> grouped 3x3 stride 2 (groups of
    `group_width` channels) -> 1x1, a strided 1x1 shortcut; RegNetY adds a squeeze-and-excite
    gate (GAP(keepdims) -> 1x1 ReLU -> 1x1 sigmoid -> Multiply) after the grouped conv."""
    import keras

    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same")(inp)))
    for i, width in enumerate(widths):
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(width, 1)(x)))
        y = L.Conv2D(width, 3, 2, "same", groups=width // group_width, name=f"s{i}_grouped")(y)
        y = L.ReLU()(L.BatchNormalization()(y))
        if se:
            g = L.GlobalAveragePooling2D(keepdims=True)(y)
            g = L.Conv2D(width, 1, activation="sigmoid")(L.Conv2D(4, 1, activation="relu")(g))
            y = L.Multiply()([y, g])
        y = L.BatchNormalization()(L.Conv2D(width, 1)(y))
        shortcut = L.BatchNormalization()(L.Conv2D(width, 1, strides=2)(x))
        x = L.ReLU()(L.Add()([shortcut, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(10)(x))


GROUPED_MODELS = {
    "resnext_blocks": resnext_blocks,
    "conv_mixer_grouped": conv_mixer_grouped,
    "regnet_x_style": lambda: regnet_style(se=False),
    "regnet_y_style": lambda: regnet_style(se=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GROUPED_MODELS))
def test_grouped_conv_models_equal_tensorflow_profiler(name):
    """Every row and the total equal the real profiler, which counts nothing after the first
    grouped conv but BatchNormalization's per-channel constants; the warning says how much
    `full` work that hides."""
    model = GROUPED_MODELS[name]()
    report, total = _compare(model)
    full = analyze(model)
    warning = next(w for w in report.warnings if "as XLA calls" in w)
    grouped = [
        layer.name
        for layer in model.layers
        if type(layer).__name__ == "Conv2D" and layer.groups > 1
    ]
    assert f"runs {len(grouped)} grouped convolutions ({grouped[0]}" in warning
    # Hidden: the full FLOPs of the first grouped conv and of every layer computed from it
    # (Keras's own graph); the profiler's total is the rest plus BatchNormalization constants.
    downstream = _downstream(model, grouped[0])
    hidden = sum(row.extra["flops"] for row in full.layers if row.name in downstream)
    assert f"this hides {hidden:,} FLOPs of the `full` convention" in warning
    assert hidden > 0 and total < full.totals["flops"]


def _downstream(model, start: str) -> set[str]:
    """`start` and every layer fed by it, directly or not (Keras's own graph)."""
    found = {start}
    changed = True
    while changed:
        changed = False
        for layer in model.layers:
            if layer.name in found:
                continue
            inbound = {
                t._keras_history.operation.name for node in layer._inbound_nodes
                for t in node.input_tensors
            }  # fmt: skip
            if inbound & found:
                found.add(layer.name)
                changed = True
    return found


def _after_grouped(*layers, shape=(8, 8, 8)):
    """A grouped conv, then `layers`; each may be a layer or a function of the tensor."""
    import keras

    inp = keras.Input(shape)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(inp)
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def _after_xla_models():
    import keras
    from keras import ops

    L = keras.layers
    return {
        # per-channel constants only: 6 (5 without scale) per channel, then nothing
        "batch_norm": lambda: _after_grouped(L.BatchNormalization(), L.Dense(4)),
        "batch_norm_no_scale": lambda: _after_grouped(
            L.BatchNormalization(scale=False), L.Conv2D(4, 1)
        ),
        "batch_norm_no_center": lambda: _after_grouped(L.BatchNormalization(center=False)),
        "normalization": lambda: _after_grouped(L.Normalization(mean=0.0, variance=1.0)),
        "prelu": lambda: _after_grouped(L.PReLU()),
        "resizing_lanczos_crop": lambda: _after_grouped(
            L.Resizing(4, 4, interpolation="lanczos3", crop_to_aspect_ratio=True)
        ),
        "softmax_axis_1": lambda: _after_grouped(L.Softmax(axis=1), L.Conv2D(4, 1)),
        # nothing at all, and the shape stays unknown
        "layer_norm": lambda: _after_grouped(
            L.LayerNormalization(), L.UnitNormalization(), L.Conv2D(4, 1)
        ),
        "rescale_crop_pool_resize": lambda: _after_grouped(
            L.Rescaling(2.0),
            L.Cropping2D(1),
            L.AveragePooling2D(2),
            L.Resizing(4, 4),
            L.UpSampling2D(2, interpolation="bilinear"),
            L.Dropout(0.1),
            lambda x: keras.ops.concatenate([x, x], -1),
            L.Conv2D(4, 1),
        ),  # fmt: skip
        "convs": lambda: _after_grouped(
            L.Conv2D(8, 1), L.DepthwiseConv2D(3), L.SeparableConv2D(8, 3), L.Conv2DTranspose(4, 3)
        ),
        "pools_and_padding": lambda: _after_grouped(
            L.ZeroPadding2D(1),
            L.MaxPooling2D(2),
            L.Permute((2, 1, 3)),
            L.GlobalAveragePooling2D(keepdims=True),
            L.Conv2D(4, 1),
        ),  # fmt: skip
        "gap_dense": lambda: _after_grouped(L.GlobalAveragePooling2D(), L.Dense(4), L.Dense(4)),
        "einsum_dense": lambda: _after_grouped(
            L.EinsumDense("abcd,de->abce", output_shape=(8, 8, 4)), L.Conv2D(4, 1)
        ),
        "ops_reshape_inferred": lambda: _after_grouped(
            lambda x: ops.reshape(x, (-1, 64, 8)), L.Conv1D(4, 1)
        ),
        "attention": lambda: _after_grouped(lambda x: L.MultiHeadAttention(2, 4)(x, x)),
        "add_with_static": lambda: _after_static_add(),
        # a static shape again: counted in full from there on
        "flatten": lambda: _after_grouped(L.Flatten(), L.Dense(4)),
        "reshape": lambda: _after_grouped(L.Reshape((64, 8)), L.Conv1D(4, 1)),
        "ops_reshape_static": lambda: _after_grouped(
            lambda x: ops.reshape(x, (1, 64, 8)), L.Conv1D(4, 1)
        ),
        "group_norm": lambda: _after_grouped(L.GroupNormalization(2), L.Conv2D(4, 1)),
        "upsampling_nearest": lambda: _after_grouped(L.UpSampling2D(2), L.Conv2D(4, 1)),
        "upsampling_1d": lambda: _after_grouped(
            L.Reshape((64, 8)), L.Conv1D(8, 1, groups=2), L.UpSampling1D(2), L.Conv1D(4, 1)
        ),
        "dense_rank_4": lambda: _after_grouped(L.Dense(8), L.Conv2D(4, 3)),
        "dense_rank_3": lambda: _after_grouped(L.Reshape((64, 8)), L.Dense(4), L.Dense(4)),
        "reshape_attention": lambda: _after_grouped(
            L.Reshape((64, 8)), lambda x: L.MultiHeadAttention(2, 4)(x, x)
        ),
    }


def _after_static_add():
    import keras

    L = keras.layers
    inp = keras.Input((8, 8, 8))
    y = L.Conv2D(8, 3, padding="same", groups=2, name="grouped")(inp)
    x = L.Add()([inp, L.BatchNormalization()(y)])  # broadcast of 1 and unknown: unknown
    return keras.Model(inp, L.Conv2D(4, 1)(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_after_xla_models()))
def test_after_xla_equals_tensorflow_profiler(name):
    report, _ = _compare(_after_xla_models()[name]())
    assert not [w for w in report.warnings if "not modelled" in w], report.warnings


def test_concatenating_shapeless_and_static_tensors_is_not_modelled():
    """TF knows part of the concatenation's shape (a conv after it counts its BiasAdd only): the
    rows from there on are reported unknown, never a guessed number."""
    import keras

    L = keras.layers
    inp = keras.Input((8, 8, 8))
    y = L.Conv2D(8, 3, padding="same", groups=2, name="grouped")(inp)
    x = L.Concatenate(name="cat")([y, inp])
    x = L.Conv2D(4, 1, name="after")(x)
    model = keras.Model(inp, L.Dense(2, name="restored")(L.Flatten(name="flat")(x)))
    flops, warnings = _rows(model)
    assert flops["cat"] is None and flops["after"] is None
    assert flops["restored"] == 2 * (8 * 8 * 4) * 2 + 2  # a static shape again after Flatten
    assert any("after: tf-profiler convention" in w and "part of the shape" in w for w in warnings)


def test_xla_warning_states_the_hidden_full_flops():
    model = resnext_blocks(size=16, blocks=1)
    report = analyze(model, flops_convention="tf-profiler")
    full = {row.name: row.extra["flops"] for row in analyze(model).layers}
    # hidden: the grouped conv and everything after it (the model's rows are in graph order)
    names = [row.name for row in report.layers]
    hidden = sum(full[n] for n in names[names.index("b0_grouped") :])
    (warning,) = [w for w in report.warnings if "as XLA calls" in w]
    assert f"this hides {hidden:,} FLOPs of the `full` convention" in warning
    assert f"{100 * hidden / sum(full.values()):.1f}% of the model's" in warning
    flops = {row.name: row.extra["flops"] for row in report.layers}
    assert flops["b0_bn2"] == 6 * 16 and flops["b0_c3"] == 0 and flops["fc"] == 0
