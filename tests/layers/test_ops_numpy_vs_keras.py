"""Every keras.ops rule of the numpy/math/linalg/einops families, checked against Keras.

Each row is (id, input specs, a function applying the op to keras inputs). A spec is a batch
shape (batch axis first, None = unknown), or (dtype, batch shape). All rows of a family are one
functional model; it is analysed from a saved `.keras` file and live, and every op row's output
shapes (all of them, for multi-output ops) and params (0) must equal Keras's.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

import cnncost  # noqa: E402

X = (None, 6, 5, 4)  # a batch of 6x5 images with 4 channels
V = (None, 7)  # a batch of vectors
M = (2, 4, 4)  # two square matrices (fixed batch)
INT = ("int32", (None, 6, 5))

UNARY = (
    "abs absolute fabs negative sign signbit floor ceil round trunc sqrt square reciprocal cbrt "
    "exp exp2 expm1 log log2 log10 log1p sin cos tan sinh cosh tanh arcsin arccos arctan "
    "arcsinh arccosh arctanh sinc i0 deg2rad rad2deg angle isfinite isinf isnan isneginf "
    "isposinf isreal logical_not nan_to_num real imag conj conjugate copy array zeros_like "
    "ones_like empty_like erf erfc erfinv rsqrt"
).split()
INT_UNARY = ("bitwise_invert", "bitwise_not")
BINARY = (
    "power arctan2 hypot floor_divide mod fmod divide_no_nan fmax fmin equal not_equal greater "
    "greater_equal less less_equal logical_and logical_or logical_xor heaviside logaddexp "
    "logaddexp2 nextafter isclose"
).split()
INT_BINARY = (
    "bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift left_shift "
    "right_shift gcd lcm"
).split()
REDUCTIONS = (
    "all any amax amin prod std var median ptp nansum nanmax nanmin nanprod nanmean nanvar "
    "nanstd nanmedian logsumexp mean sum max min"
).split()


def _one(name, *args, **kwargs):
    return lambda xs: getattr(ops, name)(xs[0], *args, **kwargs)


def _two(name, **kwargs):
    return lambda xs: getattr(ops, name)(xs[0], xs[1], **kwargs)


ROWS = [
    *[(f"unary_{n}", [X], _one(n)) for n in UNARY],
    *[(f"unary_{n}", [INT], _one(n)) for n in INT_UNARY],
    # Classes Keras defines but its functions do not record (ops.abs records Absolute): a
    # config can still name them.
    ("abs_class", [X], lambda xs: keras.src.ops.numpy.Abs()(xs[0])),
    ("conj_class", [X], lambda xs: keras.src.ops.numpy.Conj()(xs[0])),
    ("clip", [X], _one("clip", 0.0, 1.0)),
    ("full_like", [X], lambda xs: ops.full_like(xs[0], 2.0)),
    ("ldexp", [X, ("int32", (None, 1, 5, 1))], _two("ldexp")),
    *[(f"binary_{n}", [X, (None, 5, 1)], _two(n)) for n in BINARY],
    *[(f"binary_{n}", [INT, ("int32", (None, 1, 5))], _two(n)) for n in INT_BINARY],
    ("power_literal", [X], lambda xs: ops.power(xs[0], 2)),
    ("greater_list", [X], lambda xs: ops.greater(xs[0], [0.0, 1.0, 2.0, 3.0])),
    ("where", [X, (None, 1, 1, 4)], lambda xs: ops.where(xs[0] > 0, xs[0], xs[1])),
    (
        "select",
        [X, X],
        lambda xs: ops.select([xs[0] > 0, xs[1] > 0], [xs[0], xs[1]], default=0.0),
    ),
    ("full", [(None,)], lambda xs: ops.full((3, 4), xs[0])),
    *[(f"reduce_{n}", [X], _one(n, axis=(1, 2), keepdims=True)) for n in REDUCTIONS],
    *[(f"reduce_{n}_axis", [X], _one(n, axis=-1)) for n in ("sum", "std", "nanvar")],
    ("reduce_all_none", [X], _one("all")),
    ("argmax", [X], _one("argmax", axis=-1)),
    ("argmin_keepdims", [X], _one("argmin", axis=1, keepdims=True)),
    ("nanargmax", [X], _one("nanargmax", axis=2)),
    ("nanargmin_none", [X], _one("nanargmin")),
    ("count_nonzero", [X], _one("count_nonzero", axis=(1, 2))),
    ("quantile", [X], _one("quantile", [0.25, 0.75], axis=1)),
    ("quantile_scalar", [X], _one("quantile", 0.5, axis=(1, 2), keepdims=True)),
    ("percentile", [X], _one("percentile", 50.0, axis=-1)),
    ("nanquantile", [X], _one("nanquantile", [0.1, 0.5, 0.9], axis=-1)),
    ("nanpercentile", [X], _one("nanpercentile", [10.0, 90.0], axis=2)),
    ("average", [X], _one("average", axis=1)),
    ("average_weights", [X, (None, 6, 5, 4)], lambda xs: ops.average(xs[0], 1, weights=xs[1])),
    ("allclose", [X, X], _two("allclose")),
    ("trace", [X], _one("trace", axis1=1, axis2=2)),
    ("trace_offset", [X], _one("trace", offset=1, axis1=2, axis2=3)),
    ("trapezoid", [X], _one("trapezoid", axis=1)),
    ("cumsum", [X], _one("cumsum", axis=1)),
    ("cumprod", [X], _one("cumprod", axis=-1)),
    ("nancumsum", [X], _one("nancumsum", axis=2)),
    ("nancumprod", [(3, 4, 5)], _one("nancumprod")),
    ("get_item_ellipsis", [X], lambda xs: xs[0][..., :2]),
    ("get_item_mixed", [X], lambda xs: xs[0][:, 1, ::2, None]),
    ("get_item_int", [X], lambda xs: xs[0][:, -1]),
    ("get_item_step", [X], lambda xs: xs[0][:, 5:0:-2, 1:-1]),
    ("get_item_channels_reversed", [X], lambda xs: xs[0][..., ::-1]),
    ("split", [X], lambda xs: ops.split(xs[0], 2, axis=-1)),
    ("split_indices", [X], lambda xs: ops.split(xs[0], [1, 4], axis=1)),
    ("array_split", [X], lambda xs: ops.array_split(xs[0], 4, axis=1)),
    ("hsplit", [X], lambda xs: ops.hsplit(xs[0], 3)),
    ("vsplit", [(4, 5, 3)], lambda xs: ops.vsplit(xs[0], 2)),
    ("dsplit", [(None, 6, 4, 3)], lambda xs: ops.dsplit(xs[0], 2)),
    ("stack", [X, X], lambda xs: ops.stack(xs, axis=1)),
    ("stack_last", [X, X, X], lambda xs: ops.stack(xs, axis=-1)),
    ("hstack", [X, (None, 2, 5, 4)], lambda xs: ops.hstack(xs)),
    ("vstack", [(3, 5), (2, 5)], lambda xs: ops.vstack(xs)),
    ("dstack", [(3, 5, 2), (3, 5, 1)], lambda xs: ops.dstack(xs)),
    ("append", [X, (None, 6, 5, 2)], lambda xs: ops.append(xs[0], xs[1], axis=-1)),
    ("append_flat", [(3, 4), (2, 5)], lambda xs: ops.append(xs[0], xs[1])),
    ("expand_dims", [X], _one("expand_dims", 1)),
    ("expand_dims_last", [X], _one("expand_dims", -1)),
    ("squeeze", [(None, 6, 1, 4)], _one("squeeze", axis=2)),
    ("squeeze_all", [(None, 1, 6, 1)], _one("squeeze", axis=(1, 3))),
    ("pad", [X], _one("pad", [[0, 0], [1, 1], [2, 3], [0, 0]])),
    ("pad_reflect", [X], _one("pad", [[0, 0], [2, 2], [1, 1], [0, 0]], mode="reflect")),
    ("tile", [X], _one("tile", [1, 2, 1, 3])),
    ("tile_short", [X], _one("tile", [2, 2])),
    ("repeat", [X], _one("repeat", 2, axis=1)),
    ("repeat_flat", [(2, 3, 4)], _one("repeat", 3)),
    ("flip", [X], _one("flip", axis=1)),
    ("fliplr", [X], _one("fliplr")),
    ("flipud", [X], _one("flipud")),
    ("roll", [X], _one("roll", 2, axis=2)),
    ("rot90", [X], _one("rot90", axes=(1, 2))),
    ("swapaxes", [X], _one("swapaxes", 1, 3)),
    ("moveaxis", [X], _one("moveaxis", -1, 1)),
    ("moveaxis_multi", [X], _one("moveaxis", [1, 2], [3, 1])),
    ("broadcast_to", [(None, 1, 4)], lambda xs: ops.broadcast_to(xs[0], (3, 5, 4))),
    ("ravel", [(3, 4, 5)], _one("ravel")),
    ("take", [X], lambda xs: ops.take(xs[0], [0, 2, 3], axis=1)),
    ("take_tensor", [X, ("int32", (None, 2))], lambda xs: ops.take(xs[0], xs[1], axis=2)),
    ("take_flat", [X], lambda xs: ops.take(xs[0], [[0, 1], [2, 3]])),
    (
        "take_along_axis",
        [X, ("int32", (None, 6, 5, 2))],
        lambda xs: ops.take_along_axis(xs[0], xs[1], axis=-1),
    ),
    ("diag_vector", [(5,)], _one("diag", k=1)),
    ("diag_matrix", [(5, 4)], _one("diag", k=-1)),
    ("diagflat", [(2, 3)], _one("diagflat", k=2)),
    ("diagonal", [X], _one("diagonal", offset=1, axis1=1, axis2=2)),
    ("tril", [X], _one("tril", k=1)),
    ("triu", [X], _one("triu", k=-1)),
    ("meshgrid", [(3,), (4,)], lambda xs: ops.meshgrid(xs[0], xs[1])),
    ("meshgrid_ij", [(3,), (4,), (2,)], lambda xs: ops.meshgrid(*xs, indexing="ij")),
    ("unravel_index", [("int32", (None, 3))], _one("unravel_index", (4, 5))),
    ("ndim", [X], _one("ndim")),
    ("size", [X], _one("size")),
    ("linspace", [(None, 3), (None, 3)], lambda xs: ops.linspace(xs[0], xs[1], num=5, axis=1)),
    ("logspace", [(None, 3), (None, 3)], lambda xs: ops.logspace(xs[0], xs[1], num=4)),
    ("geomspace", [(None, 3), (None, 3)], lambda xs: ops.geomspace(xs[0], xs[1], num=6, axis=-1)),
    ("sort", [X], _one("sort", axis=1)),
    ("unique_size", [(None, 5)], _one("unique", size=4, return_inverse=True, return_counts=True)),
    ("unique_axis", [(6, 5)], _one("unique", axis=1, size=3, return_index=True)),
    ("unique_data_dependent", [(6, 5)], _one("unique")),
    ("argsort", [X], _one("argsort")),
    ("argpartition", [X], _one("argpartition", 2)),
    ("searchsorted", [(5,), (None, 3)], lambda xs: ops.searchsorted(xs[0], xs[1])),
    ("digitize", [X, (3,)], _two("digitize")),
    ("isin", [X, (3,)], _two("isin")),
    ("histogram", [(20,)], _one("histogram", bins=7)),
    ("slogdet", [M], _one("slogdet")),
    ("corrcoef", [(3, 5)], _one("corrcoef")),
    ("diff", [X], _one("diff", n=2, axis=1)),
    ("vander", [(5,)], _one("vander", 3)),
    ("cross", [(None, 5, 3), (None, 5, 3)], _two("cross")),
    ("cross_2d", [(None, 5, 2), (None, 1, 3)], _two("cross")),
    ("correlate_valid", [(7,), (3,)], _two("correlate")),
    ("correlate_same", [(7,), (4,)], _two("correlate", mode="same")),
    ("correlate_full", [(3,), (7,)], _two("correlate", mode="full")),
    ("matmul", [X, (None, 6, 4, 3)], _two("matmul")),
    ("matmul_broadcast", [X, (4, 3)], _two("matmul")),
    ("matmul_vector", [X, (4,)], _two("matmul")),
    ("dot", [(None, 5, 4), (2, 4, 3)], _two("dot")),
    ("dot_vector", [(None, 4), (4,)], _two("dot")),
    ("dot_scalar", [X], lambda xs: ops.dot(xs[0], 2.0)),
    ("tensordot", [(None, 5, 4), (5, 4, 3)], _two("tensordot", axes=2)),
    ("tensordot_lists", [(None, 5, 4), (4, 3, 5)], _two("tensordot", axes=[[1, 2], [2, 0]])),
    ("einsum", [X, X], lambda xs: ops.einsum("bhwc,bhwc->bhw", xs[0], xs[1])),
    ("einsum_matmul", [(None, 5, 4), (4, 3)], lambda xs: ops.einsum("bij,jk->bik", *xs)),
    ("einsum_ellipsis", [X, (4, 2)], lambda xs: ops.einsum("...c,cd->...d", *xs)),
    ("einsum_implicit", [(None, 5, 4), (4, 3)], lambda xs: ops.einsum("bij,jk", *xs)),
    ("inner", [(None, 5, 4), (3, 4)], _two("inner")),
    ("vdot", [(3, 4), (3, 4)], _two("vdot")),
    ("outer", [(None, 3), (4,)], _two("outer")),
    ("kron", [(2, 3), (4, 5)], _two("kron")),
    # math
    ("top_k", [X], lambda xs: ops.top_k(xs[0], 2)),
    ("in_top_k", [("int32", (8,)), (8, 5)], lambda xs: ops.in_top_k(xs[0], xs[1], 2)),
    ("fft", [X, X], lambda xs: ops.fft((xs[0], xs[1]))),
    ("fft2", [X, X], lambda xs: ops.fft2((xs[0], xs[1]))),
    ("ifft2", [X, X], lambda xs: ops.ifft2((xs[0], xs[1]))),
    ("rfft", [(None, 16)], _one("rfft")),
    ("rfft_length", [(None, 16)], _one("rfft", fft_length=10)),
    ("irfft", [(None, 9), (None, 9)], lambda xs: ops.irfft((xs[0], xs[1]))),
    ("irfft_length", [(None, 9), (None, 9)], lambda xs: ops.irfft((xs[0], xs[1]), 12)),
    ("stft", [(None, 40)], _one("stft", 8, 4, 16)),
    ("stft_nocenter", [(None, 40)], _one("stft", 8, 3, 8, center=False)),
    ("istft", [(None, 11, 9), (None, 11, 9)], lambda xs: ops.istft((xs[0], xs[1]), 8, 4, 16)),
    (
        "istft_length",
        [(None, 11, 9), (None, 11, 9)],
        lambda xs: ops.istft((xs[0], xs[1]), 8, 4, 16, length=30, center=False),
    ),
    ("extract_sequences", [(None, 20)], _one("extract_sequences", 6, 3)),
    *[
        (
            f"segment_{n}",
            [(6, 3), ("int32", (6,))],
            lambda xs, n=n: getattr(ops, f"segment_{n}")(xs[0], xs[1], num_segments=4),
        )
        for n in ("sum", "max", "min", "prod")
    ],
    ("segment_sum_unknown", [(6, 3), ("int32", (6,))], lambda xs: ops.segment_sum(xs[0], xs[1])),
    ("cdist", [(None, 5, 3), (None, 4, 3)], _two("cdist")),
    (
        "view_as_real",
        [X],
        lambda xs: ops.view_as_real(ops.view_as_complex(ops.stack([xs[0], xs[0]], -1))),
    ),
    ("logdet", [M], _one("logdet")),
    # linalg
    ("cholesky", [M], _one("cholesky")),
    ("cholesky_inverse", [M], _one("cholesky_inverse")),
    ("inv", [M], _one("inv")),
    ("det", [M], _one("det")),
    ("eig", [M], _one("eig")),
    ("eigh", [M], _one("eigh")),
    ("matrix_rank", [M], _one("matrix_rank")),
    ("pinv", [(2, 5, 3)], _one("pinv")),
    ("qr", [(2, 5, 3)], _one("qr")),
    ("qr_complete", [(2, 5, 3)], _one("qr", mode="complete")),
    ("svd", [(2, 5, 3)], _one("svd")),
    ("svd_reduced", [(2, 5, 3)], _one("svd", full_matrices=False)),
    ("svd_values", [(2, 5, 3)], _one("svd", compute_uv=False)),
    ("lu_factor", [(2, 5, 3)], _one("lu_factor")),
    ("solve", [M, (2, 4, 3)], _two("solve")),
    ("solve_triangular", [M, (2, 4, 3)], _two("solve_triangular", lower=True)),
    ("lstsq", [(5, 3), (5, 2)], _two("lstsq")),
    ("norm", [X], _one("norm", axis=-1)),
    ("norm_matrix", [X], _one("norm", ord="fro", axis=(1, 2), keepdims=True)),
    ("norm_ord1", [X], _one("norm", ord=1, axis=2)),
    # einops (Keras's Rearrange needs a known batch size)
    ("rearrange", [(2, 6, 5, 4)], lambda xs: ops.rearrange(xs[0], "b h w c -> b (h w) c")),
    (
        "rearrange_split",
        [(2, 6, 5, 4)],
        lambda xs: ops.rearrange(xs[0], "b (h p) w c -> b h (w p) c", p=2),
    ),
    # ops.py (the first keras.ops rules)
    ("add", [X, (None, 1, 5, 4)], _two("add")),
    ("subtract", [X, X], _two("subtract")),
    ("multiply_literal", [X], lambda xs: ops.multiply(xs[0], 2.0)),
    ("divide", [X, X], _two("divide")),
    ("true_divide", [X, X], _two("true_divide")),
    ("maximum", [X, X], _two("maximum")),
    ("minimum", [X, X], _two("minimum")),
    ("concatenate", [X, X], lambda xs: ops.concatenate(xs, axis=1)),
    ("reshape", [X], _one("reshape", (-1, 30, 4))),
    ("transpose", [X], _one("transpose", (0, 3, 1, 2))),
]


def _input(spec):
    dtype, shape = spec if isinstance(spec[0], str) else ("float32", spec)
    return keras.Input(batch_shape=shape, dtype=dtype)


def _model(rows):
    inputs, outputs = [], []
    for _id, specs, build in rows:
        xs = [_input(s) for s in specs]
        inputs += xs
        out = build(xs)
        outputs += list(out) if isinstance(out, (list, tuple)) else [out]
    return keras.Model(inputs, outputs)


def _keras_shapes(model) -> dict[str, list[tuple]]:
    shapes = {}
    for op in model.operations:
        if type(op).__name__ == "InputLayer":
            continue
        node = op._inbound_nodes[0]
        shapes[op.name] = [tuple(t.shape) for t in node.output_tensors]
    return shapes


def _mismatches(report, model) -> list:
    ours = {row.name: row for row in report.layers}
    wrong = []
    for name, shapes in _keras_shapes(model).items():
        row = ours.get(name)
        if row is None:
            wrong.append((name, "missing"))
            continue
        got = [tuple(s) if s is not None else None for s in row.output_shapes]
        if row.status == "unsupported" or got != shapes:
            wrong.append((name, row.status, got, shapes))
        elif (row.trainable_params, row.non_trainable_params) != (0, 0):
            wrong.append((name, "params", row.params))
    return wrong


CHUNKS = 6


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_rules_match_keras_live_and_from_file(tmp_path, chunk):
    """Each chunk of rows is one model, analysed live and from a saved `.keras` file."""
    model = _model(ROWS[chunk::CHUNKS])
    path = tmp_path / "ops.keras"
    model.save(path)
    for source in (path, model):
        report = cnncost.analyze(source)
        assert _mismatches(report, model) == []
        assert report.totals["params"] == 0


def test_every_ops_rule_has_a_row():
    """A rule for a keras.ops class of these families needs an example call above."""
    from cnncost.layers import ops, ops_math, ops_numpy

    tested = set()
    for _id, specs, build in ROWS:
        model = _model([(_id, specs, build)])
        config = keras.saving.serialize_keras_object(model)
        tested |= {f"ops.{layer['class_name']}" for layer in config["config"]["layers"]}
    rules = set(ops.RULES) | set(ops_numpy.RULES) | set(ops_math.RULES)
    assert sorted(rules - tested) == []
