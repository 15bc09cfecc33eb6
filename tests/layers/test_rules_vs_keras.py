"""Every layer class in the registry, checked against Keras on a representative call.

Each row is (id, input shapes, a function building the layer call on keras inputs). The model is
analysed twice: from a config-only `.keras` file and as a live model; both must equal Keras's
output shapes and param counts.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402
from support.keras_reference import assert_parity, write_config_only  # noqa: E402

import cnncost  # noqa: E402


def single(layer):
    return lambda xs: layer(xs[0])


def merge(layer):
    return lambda xs: layer(xs)


ROWS = [
    ("conv1d", [(20, 3)], single(layers.Conv1D(4, 3, strides=2, padding="same"))),
    ("conv1d_causal", [(20, 3)], single(layers.Conv1D(4, 3, padding="causal", dilation_rate=2))),
    ("conv2d_groups", [(17, 15, 8)], single(layers.Conv2D(12, (3, 5), strides=2, groups=4))),
    ("conv2d_dilated", [(17, 15, 3)], single(layers.Conv2D(5, 3, dilation_rate=(2, 3)))),
    ("conv2d_nobias", [(9, 9, 3)], single(layers.Conv2D(5, 3, use_bias=False, padding="same"))),
    ("conv2d_cf", [(3, 12, 10)], single(layers.Conv2D(5, 3, data_format="channels_first"))),
    ("conv3d", [(6, 7, 8, 2)], single(layers.Conv3D(3, 2, strides=(1, 2, 2)))),
    ("conv1d_transpose", [(7, 3)], single(layers.Conv1DTranspose(4, 3, strides=2))),
    ("conv2d_transpose", [(7, 5, 3)], single(layers.Conv2DTranspose(4, 3, strides=2))),
    (
        "conv2d_transpose_same_op",
        [(7, 5, 3)],
        single(layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)),
    ),
    ("conv3d_transpose", [(3, 4, 5, 2)], single(layers.Conv3DTranspose(2, 2, strides=2))),
    ("depthwise1d", [(20, 3)], single(layers.DepthwiseConv1D(3, depth_multiplier=2))),
    ("depthwise2d", [(12, 11, 4)], single(layers.DepthwiseConv2D(3, strides=2, padding="same"))),
    ("separable1d", [(20, 3)], single(layers.SeparableConv1D(5, 3, depth_multiplier=2))),
    ("separable2d", [(12, 11, 4)], single(layers.SeparableConv2D(6, 3, strides=2))),
    ("maxpool1d", [(20, 3)], single(layers.MaxPooling1D(3, strides=2))),
    ("maxpool2d_same", [(13, 11, 3)], single(layers.MaxPooling2D(3, strides=2, padding="same"))),
    ("maxpool3d", [(6, 7, 8, 2)], single(layers.MaxPooling3D(2))),
    ("avgpool1d", [(20, 3)], single(layers.AveragePooling1D(2))),
    ("avgpool2d", [(13, 11, 3)], single(layers.AveragePooling2D((2, 3)))),
    ("avgpool3d", [(6, 7, 8, 2)], single(layers.AveragePooling3D(2, padding="same"))),
    ("gap1d", [(20, 3)], single(layers.GlobalAveragePooling1D())),
    ("gap2d_keepdims", [(9, 9, 3)], single(layers.GlobalAveragePooling2D(keepdims=True))),
    ("gmp2d", [(9, 9, 3)], single(layers.GlobalMaxPooling2D())),
    ("gap3d", [(4, 4, 4, 3)], single(layers.GlobalAveragePooling3D())),
    ("gmp1d", [(20, 3)], single(layers.GlobalMaxPooling1D())),
    ("dense_nd", [(5, 6, 7)], single(layers.Dense(3))),
    ("einsum_dense", [(5, 7)], single(layers.EinsumDense("abc,cd->abd", (5, 4), bias_axes="d"))),
    ("embedding", [(6,)], single(layers.Embedding(50, 8))),
    ("embedding_lora", [(6,)], single(layers.Embedding(50, 8, lora_rank=3))),
    ("dense_lora", [(5, 7)], single(layers.Dense(4, lora_rank=2))),
    (
        "einsum_dense_lora",
        [(5, 7)],
        single(layers.EinsumDense("abc,cd->abd", (5, 4), bias_axes="d", lora_rank=2)),
    ),
    ("batchnorm", [(5, 5, 3)], single(layers.BatchNormalization())),
    ("batchnorm_axis1", [(3, 5, 5)], single(layers.BatchNormalization(axis=1, center=False))),
    ("layernorm", [(5, 6)], single(layers.LayerNormalization())),
    ("layernorm_axes", [(4, 5, 6)], single(layers.LayerNormalization(axis=[1, 2]))),
    ("groupnorm", [(5, 5, 8)], single(layers.GroupNormalization(groups=4))),
    ("unitnorm", [(5, 6)], single(layers.UnitNormalization())),
    ("rmsnorm", [(5, 6)], single(layers.RMSNormalization())),
    ("normalization", [(5, 5, 3)], single(layers.Normalization())),
    ("rescaling", [(5, 5, 3)], single(layers.Rescaling(1 / 255))),
    ("resizing", [(9, 7, 3)], single(layers.Resizing(4, 5))),
    ("center_crop", [(9, 7, 3)], single(layers.CenterCrop(4, 5))),
    ("activation", [(5, 3)], single(layers.Activation("swish"))),
    ("relu", [(5, 3)], single(layers.ReLU(max_value=6.0))),
    ("leaky_relu", [(5, 3)], single(layers.LeakyReLU())),
    ("prelu", [(5, 4, 3)], single(layers.PReLU(shared_axes=[1, 2]))),
    ("elu", [(5, 3)], single(layers.ELU())),
    ("softmax", [(5, 3)], single(layers.Softmax())),
    ("dropout", [(5, 3)], single(layers.Dropout(0.5))),
    ("spatial_dropout2d", [(5, 5, 3)], single(layers.SpatialDropout2D(0.5))),
    ("gaussian_noise", [(5, 3)], single(layers.GaussianNoise(0.1))),
    ("flatten", [(5, 4, 3)], single(layers.Flatten())),
    ("reshape", [(6, 4)], single(layers.Reshape((3, -1)))),
    ("permute", [(5, 4, 3)], single(layers.Permute((3, 1, 2)))),
    ("repeat_vector", [(4,)], single(layers.RepeatVector(3))),
    ("zeropad1d", [(7, 3)], single(layers.ZeroPadding1D((1, 2)))),
    ("zeropad2d", [(7, 6, 3)], single(layers.ZeroPadding2D(((1, 2), (0, 3))))),
    ("zeropad3d", [(4, 4, 4, 2)], single(layers.ZeroPadding3D(1))),
    ("crop1d", [(9, 3)], single(layers.Cropping1D((1, 2)))),
    ("crop2d", [(9, 8, 3)], single(layers.Cropping2D(((1, 2), (2, 1))))),
    ("crop3d", [(6, 6, 6, 2)], single(layers.Cropping3D(1))),
    ("upsampling1d", [(5, 3)], single(layers.UpSampling1D(3))),
    ("upsampling2d", [(5, 4, 3)], single(layers.UpSampling2D((2, 3)))),
    ("upsampling3d", [(2, 3, 4, 2)], single(layers.UpSampling3D(2))),
    ("add", [(5, 3), (5, 3)], merge(layers.Add())),
    ("subtract", [(5, 3), (5, 3)], merge(layers.Subtract())),
    ("multiply_broadcast", [(5, 5, 3), (1, 1, 3)], merge(layers.Multiply())),
    ("average", [(5, 3), (5, 3)], merge(layers.Average())),
    ("maximum", [(5, 3), (5, 3)], merge(layers.Maximum())),
    ("minimum", [(5, 3), (5, 3)], merge(layers.Minimum())),
    ("concatenate", [(5, 3), (5, 4)], merge(layers.Concatenate())),
    ("concatenate_axis1", [(5, 3), (2, 3)], merge(layers.Concatenate(axis=1))),
    (
        "multi_head_attention",
        [(5, 6), (7, 10)],
        lambda xs: layers.MultiHeadAttention(2, 4, value_dim=3)(xs[0], xs[1]),
    ),
    # adaptive pooling, Dot, attention variants
    ("adaptive_avg1d", [(10, 3)], single(layers.AdaptiveAveragePooling1D(4))),
    ("adaptive_avg2d", [(9, 7, 3)], single(layers.AdaptiveAveragePooling2D((4, 3)))),
    (
        "adaptive_avg3d_cf",
        [(2, 5, 6, 7)],
        single(layers.AdaptiveAveragePooling3D((2, 3, 4), data_format="channels_first")),
    ),
    ("adaptive_max1d", [(10, 3)], single(layers.AdaptiveMaxPooling1D(3))),
    ("adaptive_max2d", [(9, 7, 3)], single(layers.AdaptiveMaxPooling2D(2))),
    ("adaptive_max3d", [(5, 6, 7, 2)], single(layers.AdaptiveMaxPooling3D((2, 2, 3)))),
    ("dot_axes2", [(5, 3), (7, 3)], merge(layers.Dot(axes=2))),
    ("dot_normalize", [(5,), (5,)], merge(layers.Dot(axes=1, normalize=True))),
    ("dot_axes_pair", [(4, 5), (5, 6)], merge(layers.Dot(axes=(2, 1)))),
    ("conv1d_transpose_alias", [(7, 3)], single(layers.Convolution1DTranspose(4, 3))),
    (
        "attention_dot",
        [(5, 8), (7, 6)],
        lambda xs: layers.Attention()([xs[0], xs[1], layers.Dense(8)(xs[1])]),
    ),
    (
        "attention_concat_scale",
        [(5, 8), (7, 8)],
        merge(layers.Attention(use_scale=True, score_mode="concat")),
    ),
    ("additive_attention", [(5, 8), (7, 8)], merge(layers.AdditiveAttention())),
    (
        "additive_attention_noscale",
        [(5, 8), (7, 8)],
        merge(layers.AdditiveAttention(use_scale=False)),
    ),
    (
        "group_query_attention",
        [(5, 8), (7, 8)],
        lambda xs: layers.GroupQueryAttention(4, 4, 2)(xs[0], xs[1]),
    ),
    (
        "group_query_attention_gate",
        [(5, 8), (7, 8), (7, 3)],
        lambda xs: layers.GroupQueryAttention(2, 4, 1, use_gate=True, use_bias=False)(
            xs[0], xs[1], xs[2]
        ),
    ),
    # recurrent layers, cells and wrappers
    ("simple_rnn", [(6, 3)], single(layers.SimpleRNN(5, return_sequences=True))),
    ("gru", [(6, 3)], single(layers.GRU(5))),
    ("gru_v1_bias", [(6, 3)], single(layers.GRU(5, reset_after=False))),
    ("lstm_state", [(6, 3)], lambda xs: layers.LSTM(5, return_state=True)(xs[0])[2]),
    ("rnn_stacked", [(6, 3)], single(layers.RNN([layers.LSTMCell(5), layers.GRUCell(2)]))),
    (
        "lstm_cell_alone",
        [(3,), (5,), (5,)],
        lambda xs: layers.LSTMCell(5)(xs[0], [xs[1], xs[2]])[0],
    ),
    ("gru_cell_alone", [(3,), (5,)], lambda xs: layers.GRUCell(5)(xs[0], [xs[1]])[0]),
    ("simple_rnn_cell_alone", [(3,), (5,)], lambda xs: layers.SimpleRNNCell(5)(xs[0], [xs[1]])[0]),
    ("conv_lstm1d", [(4, 9, 3)], single(layers.ConvLSTM1D(2, 3, strides=2))),
    ("conv_lstm2d", [(4, 6, 6, 3)], single(layers.ConvLSTM2D(2, 3, return_sequences=True))),
    (
        "conv_lstm3d_cf",
        [(3, 2, 5, 5, 5)],
        single(layers.ConvLSTM3D(2, 2, data_format="channels_first", padding="same")),
    ),
    (
        "bidirectional_concat",
        [(6, 3)],
        single(layers.Bidirectional(layers.LSTM(5, return_sequences=True))),
    ),
    (
        "bidirectional_sum_backward",
        [(6, 3)],
        single(
            layers.Bidirectional(
                layers.GRU(4), merge_mode="sum", backward_layer=layers.GRU(4, go_backwards=True)
            )
        ),
    ),
    ("time_distributed_conv", [(4, 6, 6, 3)], single(layers.TimeDistributed(layers.Conv2D(2, 3)))),
    ("time_distributed_dense", [(4, 5)], single(layers.TimeDistributed(layers.Dense(3)))),
    ("spectral_norm_dense", [(5, 3)], single(layers.SpectralNormalization(layers.Dense(4)))),
    (
        "spectral_norm_conv",
        [(6, 6, 3)],
        single(layers.SpectralNormalization(layers.Conv2D(4, 3))),
    ),
    # embeddings, categorical and lookup preprocessing, audio
    ("reversible_embedding", [(6,)], single(layers.ReversibleEmbedding(50, 8))),
    (
        "reversible_embedding_reverse",
        [(6, 8)],
        lambda xs: layers.ReversibleEmbedding(50, 8, tie_weights=False)(xs[0], reverse=True),
    ),
    ("category_encoding", [(4,)], single(layers.CategoryEncoding(10, output_mode="count"))),
    ("category_one_hot", [(1,)], single(layers.CategoryEncoding(10, output_mode="one_hot"))),
    ("hashing", [(4,)], single(layers.Hashing(10))),
    ("hashing_multi_hot", [(4,)], single(layers.Hashing(10, output_mode="multi_hot"))),
    ("hashed_crossing", [(1,), (1,)], merge(layers.HashedCrossing(10))),
    ("discretization", [(4,)], single(layers.Discretization([0.0, 1.0, 2.0]))),
    (
        "integer_lookup_one_hot",
        [(4,)],
        lambda xs: layers.IntegerLookup(vocabulary=[1, 2, 3], output_mode="one_hot")(
            keras.ops.cast(xs[0], "int64")
        ),
    ),
    (
        "string_lookup",
        [((3,), "string")],
        single(layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")),
    ),
    (
        "text_vectorization",
        [((1,), "string")],
        single(layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=6)),
    ),
    (
        "mel_spectrogram",
        [(1600,)],
        single(
            layers.MelSpectrogram(
                fft_length=256, sequence_stride=128, sequence_length=256, num_mel_bins=16
            )
        ),
    ),
    ("stft_spectrogram", [(1600, 2)], single(layers.STFTSpectrogram(frame_length=64))),
    (
        "stft_spectrogram_real_expand",
        [(1600, 1)],
        single(
            layers.STFTSpectrogram(mode="real", frame_length=60, frame_step=30, expand_dims=True)
        ),
    ),
    # augmentation: identity at inference (RandomCrop: the cropped graph shape)
    ("aug_mix", [(8, 8, 3)], single(layers.AugMix())),
    ("cut_mix", [(8, 8, 3)], single(layers.CutMix())),
    ("mix_up", [(8, 8, 3)], single(layers.MixUp())),
    ("rand_augment", [(8, 8, 3)], single(layers.RandAugment())),
    ("random_color_degeneration", [(8, 8, 3)], single(layers.RandomColorDegeneration(0.2))),
    ("random_color_jitter", [(8, 8, 3)], single(layers.RandomColorJitter())),
    ("random_elastic", [(8, 8, 3)], single(layers.RandomElasticTransform())),
    ("random_erasing", [(8, 8, 3)], single(layers.RandomErasing())),
    ("random_gaussian_blur", [(8, 8, 3)], single(layers.RandomGaussianBlur())),
    ("random_grayscale", [(8, 8, 3)], single(layers.RandomGrayscale())),
    ("random_hue", [(8, 8, 3)], single(layers.RandomHue(0.2, (0, 255)))),
    ("random_invert", [(8, 8, 3)], single(layers.RandomInvert())),
    ("random_perspective", [(8, 8, 3)], single(layers.RandomPerspective())),
    ("random_posterization", [(8, 8, 3)], single(layers.RandomPosterization(4, (0, 255)))),
    ("random_saturation", [(8, 8, 3)], single(layers.RandomSaturation(0.2))),
    ("random_sharpness", [(8, 8, 3)], single(layers.RandomSharpness(0.2))),
    ("random_shear", [(8, 8, 3)], single(layers.RandomShear(0.2))),
    ("solarization", [(8, 8, 3)], single(layers.Solarization(0.5))),
    ("max_num_bounding_boxes", [(8, 8, 3)], single(layers.MaxNumBoundingBoxes(3))),
    ("random_crop", [(8, 8, 3)], single(layers.RandomCrop(5, 4))),
    ("auto_contrast", [(8, 8, 3)], single(layers.AutoContrast())),
    ("clahe", [(8, 8, 3)], single(layers.ContrastLimitedAdaptiveHistogramEqualization())),
    ("ops_add", [(5, 3), (5, 3)], lambda xs: keras.ops.add(xs[0], xs[1])),
    ("ops_multiply", [(5, 3), (1, 3)], lambda xs: keras.ops.multiply(xs[0], xs[1])),
    ("ops_concatenate", [(4, 6, 3), (4, 6, 2)], lambda xs: keras.ops.concatenate(xs, axis=-1)),
    ("ops_reshape", [(4, 6, 5)], lambda xs: keras.ops.reshape(xs[0], (-1, 4 * 6 * 5))),
    ("ops_transpose", [(4, 6, 5)], lambda xs: keras.ops.transpose(xs[0], (0, 3, 1, 2))),
    ("ops_mean", [(4, 6, 5)], lambda xs: keras.ops.mean(xs[0], axis=(1, 2), keepdims=True)),
    ("ops_sum", [(4, 6, 5)], lambda xs: keras.ops.sum(xs[0], axis=-1)),
    ("ops_max", [(4, 6, 5)], lambda xs: keras.ops.max(xs[0], axis=1)),
    ("ops_min", [(4, 6, 5)], lambda xs: keras.ops.min(xs[0], axis=(1, 2, 3))),
]


def _input(spec):
    """`(shape, dtype)` for a non-float input (strings for lookups), else a shape."""
    if len(spec) == 2 and isinstance(spec[1], str):
        return keras.Input(spec[0], dtype=spec[1])
    return keras.Input(spec)


def _model(input_shapes, build):
    inputs = [_input(shape) for shape in input_shapes]
    return keras.Model(inputs, build(inputs))


@pytest.mark.parametrize("input_shapes,build", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_rule_matches_keras(tmp_path, input_shapes, build):
    model = _model(input_shapes, build)
    path = write_config_only(model, tmp_path / "m.keras")
    assert_parity(cnncost.analyze(path), model)
    assert_parity(cnncost.analyze(model), model)


def test_every_registered_class_has_a_row():
    """Adding a layer class means adding its test row here (or in a family test)."""
    from cnncost.layers import known_classes

    tested = set()
    for _id, input_shapes, build in ROWS:
        model = _model(input_shapes, build)
        config = keras.saving.serialize_keras_object(model)
        for layer in config["config"]["layers"]:
            module = layer.get("module") or ""
            prefix = "ops." if module.startswith("keras.src.ops") else ""
            tested.add(prefix + layer["class_name"])
    aliases = {
        "Convolution",
        "SeparableConvolution",
        "MaxPool",
        "AvgPool",
        "GlobalAvgPool",
        "GlobalMaxPool",
        "Sync",
    }
    untested = [
        name
        for name in known_classes()
        if name not in tested and not any(name.startswith(a) for a in aliases)
    ]
    # Classes whose rule is shared with a tested one or covered by the applications tests.
    covered_elsewhere = {
        "LayerScale",
        "CustomScaleLayer",
        "ops.Subtract",
        "ops.Divide",
        "ops.TrueDivide",
        "ops.Maximum",
        "ops.Minimum",
        "SpatialDropout1D",
        "SpatialDropout3D",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Identity",
        "Masking",
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomBrightness",
        "ThresholdedReLU",
    }
    # keras.ops rules: tests/layers/test_ops_nn.py (nn/core/image) and
    # tests/layers/test_ops_numpy_vs_keras.py (numpy/math/linalg/einops) have a row for every one.
    # Third-party zoo classes: tests/layers/test_third_party.py.
    from cnncost.layers import ops, ops_math, ops_nn, ops_numpy, third_party

    for family in (ops, ops_math, ops_nn, ops_numpy, third_party):
        covered_elsewhere |= set(family.RULES)
    assert sorted(set(untested) - covered_elsewhere) == []
