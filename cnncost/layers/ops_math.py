"""keras.ops.math, keras.ops.linalg and keras.ops.einops operations, keyed `ops.<Class>`.

Elementwise functions (erf, rsqrt ...) have a FLOP-table row; reductions (logsumexp, norm) are
"reduce" rules; matrix decompositions, FFTs and top-k have exact shapes but their work depends on
the backend's algorithm (iterations, radix, sorting), so their MACs/FLOPs are left unknown (the
row is `partial`) rather than guessed. Every class of the three modules has a rule here or an
entry in `EXCLUDED` (docs/ops.md).
"""

from __future__ import annotations

import re

from cnncost.ir import Dim, Shape
from cnncost.layers.base import Call, LayerRule, is_int, product
from cnncost.layers.ops_common import (
    arguments,
    axes_list,
    broadcast_all,
    reduce_shape,
    rule,
    tensor_list,
    unknown_macs,
)


def _same(call: Call) -> tuple[Shape, ...]:
    return (call.shape,)


# -- math -------------------------------------------------------------------------------------------


def _logsumexp(call: Call) -> tuple[Shape, ...]:
    axes = axes_list(call, call.config.get("axis"), len(call.shape))
    return (reduce_shape(call.shape, axes, bool(call.config.get("keepdims", False))),)


def _reduced(call: Call) -> tuple[int, ...]:
    return axes_list(call, call.config.get("axis"), len(call.shape))


def _top_k(call: Call) -> tuple[Shape, ...]:
    """(values, indices): the last axis becomes k."""
    k = call.config.get("k")
    if not is_int(k) or k < 0:
        raise call.fail(f"k must be a non-negative int, not {k!r}")
    if not call.shape:
        raise call.fail("top_k needs an input of rank 1 or more")
    n = call.shape[-1]
    if is_int(n) and k > n:
        raise call.fail(f"k={k} is larger than the last axis ({n})")
    out = tuple(call.shape[:-1]) + (k,)
    return (out, out)


def _in_top_k(call: Call) -> tuple[Shape, ...]:
    """`in_top_k(targets, predictions, k)`: one bool per target."""
    return (call.input_shapes[0],)


def _complex_pair(call: Call) -> tuple[Shape, Shape]:
    """FFT inputs are a (real, imaginary) pair of tensors of one shape."""
    pair = tensor_list(arguments(call).get(0, "x"))
    if len(pair) != 2 or tuple(pair[0]) != tuple(pair[1]):
        raise call.fail("expects a (real, imaginary) pair of tensors of the same shape")
    return tuple(pair[0]), tuple(pair[1])


def _fft(call: Call) -> tuple[Shape, ...]:
    real, _ = _complex_pair(call)
    return (real, real)


def _fft2(call: Call) -> tuple[Shape, ...]:
    real, _ = _complex_pair(call)
    if len(real) < 2:
        raise call.fail("fft2 needs an input of rank 2 or more")
    return (real, real)


def _rfft(call: Call) -> tuple[Shape, ...]:
    """The last axis becomes fft_length // 2 + 1 (fft_length defaults to its length)."""
    length = call.config.get("fft_length")
    n = call.shape[-1] if length is None else length
    out = tuple(call.shape[:-1]) + (None if n is None else n // 2 + 1,)
    return (out, out)


def _irfft(call: Call) -> tuple[Shape, ...]:
    """The last axis becomes fft_length (default 2 * (n - 1))."""
    real, _ = _complex_pair(call)
    length = call.config.get("fft_length")
    n = real[-1]
    if length is None:
        length = None if n is None else 2 * (n - 1)
    return (tuple(real[:-1]) + (length,),)


def _frames(call: Call, n: Dim, size: Dim, padded: int) -> Dim:
    """1 + (n + padded - size) // sequence_stride frames of `size` samples."""
    stride = call.config.get("sequence_stride")
    if not (is_int(size) and is_int(stride) and size > 0 and stride > 0):
        raise call.fail("sequence_length/fft_length and sequence_stride must be positive ints")
    if n is None:
        return None
    if is_int(n) and n + padded < size:
        raise call.fail(f"a signal of {n} is shorter than a frame of {size}")
    return 1 + (n + padded - size) // stride


def _extract_sequences(call: Call) -> tuple[Shape, ...]:
    frames = _frames(call, call.shape[-1], call.config.get("sequence_length"), 0)
    return (tuple(call.shape[:-1]) + (frames, call.config.get("sequence_length")),)


def _stft(call: Call) -> tuple[Shape, ...]:
    fft_length = call.config.get("fft_length")
    if not is_int(fft_length) or fft_length < call.config.get("sequence_length", 0):
        raise call.fail("fft_length must be an int >= sequence_length")
    # Keras frames the (centered: fft_length // 2 padded on both sides) signal by fft_length.
    padded = 2 * (fft_length // 2) if call.config.get("center", True) else 0
    frames = _frames(call, call.shape[-1], fft_length, padded)
    out = tuple(call.shape[:-1]) + (frames, fft_length // 2 + 1)
    return (out, out)


def _istft(call: Call) -> tuple[Shape, ...]:
    """Overlap-add of the frames: (frames - 1) * stride + fft_length samples, minus the
    centering padding; `length` crops or pads to that length."""
    real, _ = _complex_pair(call)
    length = call.config.get("length")
    fft_length = call.config.get("fft_length")
    stride = call.config.get("sequence_stride")
    if length is not None:
        return (tuple(real[:-2]) + (length,),)
    frames = real[-2]
    if frames is None:
        return (tuple(real[:-2]) + (None,),)
    n = (frames - 1) * stride + fft_length
    if call.config.get("center", True):
        n -= 2 * (fft_length // 2)
    return (tuple(real[:-2]) + (n,),)


def _segment(call: Call) -> tuple[Shape, ...]:
    """Segment reductions: (num_segments,) + data.shape[1:]; without num_segments the number
    of segments is data-dependent and stays unknown."""
    data = call.input_shapes[0]
    segments = call.config.get("num_segments")
    return ((segments if is_int(segments) else None, *data[1:]),)


def _segment_counts(call: Call, outputs) -> dict[str, Dim]:
    """One add (max, min, multiply) per data element into its segment."""
    return {"op:flop": product(call.input_shapes[0])}


def _cdist(call: Call) -> tuple[Shape, ...]:
    x, y = call.input_shapes[:2]
    if len(x) < 2 or len(y) < 2:
        raise call.fail("cdist needs inputs of rank 2 or more")
    batch = broadcast_all(call, [x[:-2], y[:-2]]) if len(x) > 2 or len(y) > 2 else ()
    return (tuple(batch) + (x[-2], y[-2]),)


def _cdist_counts(call: Call, outputs) -> dict[str, Dim]:
    """p=2 (Keras's default): per pair m subtractions, m squares, m-1 adds and one sqrt:
    3m FLOPs per output element."""
    m = call.input_shapes[0][-1]
    out = product(outputs[0][1:])
    return {"op:flop": None if m is None or out is None else 3 * m * out}


def _view_as_real(call: Call) -> tuple[Shape, ...]:
    return (tuple(call.shape) + (2,),)


def _view_as_complex(call: Call) -> tuple[Shape, ...]:
    if not call.shape or call.shape[-1] not in (2, None):
        raise call.fail("the last axis must be 2 (real, imaginary)")
    return (tuple(call.shape[:-1]),)


# -- linalg ---------------------------------------------------------------------------------------


def _square_matrices(call: Call) -> Shape:
    shape = call.shape
    if len(shape) < 2:
        raise call.fail(f"expects matrices (rank 2 or more), got shape {list(shape)}")
    m, n = shape[-2], shape[-1]
    if is_int(m) and is_int(n) and m != n:
        raise call.fail(f"expects square matrices, got {m}x{n}")
    return shape


def _matrices(call: Call) -> Shape:
    if len(call.shape) < 2:
        raise call.fail(f"expects matrices (rank 2 or more), got shape {list(call.shape)}")
    return call.shape


def _square_same(call: Call) -> tuple[Shape, ...]:
    return (_square_matrices(call),)


def _det(call: Call) -> tuple[Shape, ...]:
    return (tuple(_square_matrices(call)[:-2]),)


def _eig(call: Call) -> tuple[Shape, ...]:
    shape = _square_matrices(call)
    return (tuple(shape[:-1]), shape)


def _matrix_rank(call: Call) -> tuple[Shape, ...]:
    return (tuple(_matrices(call)[:-2]),)


def _pinv(call: Call) -> tuple[Shape, ...]:
    shape = _matrices(call)
    return (tuple(shape[:-2]) + (shape[-1], shape[-2]),)


def _min(a: Dim, b: Dim) -> Dim:
    return min(a, b) if is_int(a) and is_int(b) else None


def _qr(call: Call) -> tuple[Shape, ...]:
    shape = _matrices(call)
    m, n = shape[-2], shape[-1]
    batch = tuple(shape[:-2])
    mode = call.config.get("mode", "reduced")
    if mode == "complete":
        return (batch + (m, m), batch + (m, n))
    if mode == "reduced":
        k = _min(m, n)
        return (batch + (m, k), batch + (k, n))
    raise call.fail(f"unknown qr mode {mode!r}")


def _svd(call: Call) -> tuple[Shape, ...]:
    shape = _matrices(call)
    m, n = shape[-2], shape[-1]
    batch = tuple(shape[:-2])
    k = _min(m, n)
    if not call.config.get("compute_uv", True):
        return (batch + (k,),)
    if call.config.get("full_matrices", True):
        return (batch + (m, m), batch + (k,), batch + (n, n))
    return (batch + (m, k), batch + (k,), batch + (k, n))


def _lu_factor(call: Call) -> tuple[Shape, ...]:
    shape = _matrices(call)
    return (shape, tuple(shape[:-2]) + (_min(shape[-2], shape[-1]),))


def _solve(call: Call) -> tuple[Shape, ...]:
    """`solve(a, b)`: the solution has b's shape."""
    a = call.input_shapes[0]
    b = call.input_shapes[1]
    if len(a) < 2:
        raise call.fail("a must be (batches of) square matrices")
    return (tuple(b),)


def _lstsq(call: Call) -> tuple[Shape, ...]:
    """`lstsq(a, b)`: a is (M, N), b is (M,) or (M, K); the solution is (N,) or (N, K)."""
    a, b = call.input_shapes[:2]
    if len(a) != 2 or len(b) not in (1, 2):
        raise call.fail("lstsq needs a of rank 2 and b of rank 1 or 2")
    return ((a[1],) + tuple(b[1:]),)


_MATRIX_ORDS = (1, -1, 2, -2, "fro", "nuc", "inf", "-inf", float("inf"), float("-inf"))


def _norm_axes(call: Call) -> tuple[int, ...]:
    return axes_list(call, call.config.get("axis"), len(call.shape))


def _norm(call: Call) -> tuple[Shape, ...]:
    axes = _norm_axes(call)
    return (reduce_shape(call.shape, axes, bool(call.config.get("keepdims", False))),)


def _norm_kind(call: Call) -> str:
    """'vector:<ord>' or 'matrix:<ord>' as numpy.linalg.norm decides (axis None: the vector
    2-norm of the flattened input unless ord is given on a 2-D input)."""
    axis = call.config.get("axis")
    ord_ = call.config.get("ord")
    rank = len(call.shape)
    if axis is None:
        matrix = ord_ is not None and rank == 2
    else:
        matrix = isinstance(axis, (list, tuple)) and len(axis) == 2
    return f"{'matrix' if matrix else 'vector'}:{ord_}"


def _norm_counts(call: Call, outputs) -> dict[str, Dim]:
    """Vector norms per input element: 2 (None/2: square, add; one sqrt per output),
    1 and inf (abs, add or compare), p (abs, pow, add; one pow per output); 0 (compare, add).
    Matrix 'fro' is the vector 2-norm; matrix 1/inf: abs + add per element, then a max over
    the sums. Matrix 2/nuc norms need singular values: not counted."""
    kind = _norm_kind(call)
    inputs = product(call.shape[1:])
    out = product(outputs[0][1:]) if outputs[0] else 1
    if inputs is None or out is None:
        return {"op:flop": None}
    ord_ = kind.split(":", 1)[1]
    if kind.startswith("vector") or ord_ == "fro":
        if ord_ in ("None", "2", "2.0", "fro"):
            return {"op:flop": 2 * inputs}  # n squares, n-1 adds, 1 sqrt per output
        if ord_ in ("1", "1.0", "inf", "-inf"):
            return {"op:flop": 2 * inputs - out}  # n abs, n-1 adds (or compares)
        if ord_ in ("0", "0.0"):
            return {"op:flop": 2 * inputs - out}  # n compares, n-1 adds
        return {"op:flop": 3 * inputs}  # n abs, n pow, n-1 adds, 1 pow per output
    if ord_ in ("1", "-1", "inf", "-inf"):
        # |x| and sums along one matrix axis (n*m abs, n*(m-1) adds), then a max over the n
        # sums: 2*n*m - 1 per output matrix = 2 * inputs - out.
        return {"op:flop": 2 * inputs - out}
    return {"op:unknown": None}


def _norm_macs(call: Call, outputs) -> Dim:
    kind = _norm_kind(call)
    if kind.startswith("matrix") and kind.split(":", 1)[1] in ("2", "-2", "nuc"):
        return None  # singular values: algorithm-dependent
    return 0


_norm_macs.unknown_reason = unknown_macs.unknown_reason  # type: ignore[attr-defined]


def _norm_rule_counts(call: Call, outputs) -> dict[str, Dim]:
    counts = _norm_counts(call, outputs)
    return {} if "op:unknown" in counts else counts


# -- einops ---------------------------------------------------------------------------------------

_GROUP = re.compile(r"\(([^()]*)\)|(\S+)")


def _groups(side: str) -> list[list[str]]:
    groups = []
    for match in _GROUP.finditer(side):
        if match.group(1) is not None:
            groups.append(match.group(1).split())
        else:
            groups.append([match.group(2)])
    return groups


def _rearrange(call: Call) -> tuple[Shape, ...]:
    """einops `rearrange(x, "b h w c -> b (h w) c", **axes_lengths)`: each input group splits
    the axis into named sizes (one may be inferred), each output group is their product."""
    args = arguments(call)
    pattern = args.get(1, "pattern")
    if not isinstance(pattern, str) or "->" not in pattern:
        raise call.fail(f"pattern must be an einops 'left -> right' string, not {pattern!r}")
    lengths = {k: v for k, v in args.kwargs.items() if k not in ("tensor", "pattern")}
    left, right = (_groups(side) for side in pattern.split("->"))
    if len(left) != len(call.shape):
        raise call.fail(
            f"pattern {pattern!r} names {len(left)} axes, the input has {len(call.shape)}"
        )
    sizes: dict[str, Dim] = {}
    for group, dim in zip(left, call.shape):
        known = {name: lengths.get(name) for name in group}
        missing = [name for name, v in known.items() if v is None]
        if len(group) == 1:
            sizes[group[0]] = dim if known[group[0]] is None else known[group[0]]
            continue
        if len(missing) > 1:
            raise call.fail(f"more than one unknown length in group {group}")
        rest = product([v for v in known.values() if v is not None])
        for name, v in known.items():
            sizes[name] = v if v is not None else (None if dim is None else dim // rest)
    out: list[Dim] = []
    for group in right:
        if any(name not in sizes for name in group):
            raise call.fail(f"output names {group} not all in the input of {pattern!r}")
        out.append(product([sizes[name] for name in group]))
    return (tuple(out),)


RULES: dict[str, LayerRule] = {
    "ops.Erf": rule(_same, rf="pointwise", cost="op:erf"),
    "ops.Erfc": rule(_same, rf="pointwise", cost="op:erf"),
    "ops.Erfinv": rule(_same, rf="pointwise", cost="op:erf"),
    "ops.Rsqrt": rule(_same, rf="pointwise", cost="op:rsqrt"),
    "ops.Logsumexp": rule(_logsumexp, rf="reduce", cost="op:logsumexp", reduced_axes=_reduced),
    # Top-k selection counts 0 MACs and 0 FLOPs by convention (docs/conventions.md): it
    # compares and moves values, with no arithmetic on them, and how many comparisons depends on
    # the backend's algorithm (a heap: about n log k, a selection: about n). TensorFlow's
    # profiler has no statistics for TopKV2 (measured: 0) and fvcore no handler for aten::topk;
    # a full sort (Sort, Argsort) stays unknown.
    "ops.TopK": rule(_top_k),
    "ops.InTopK": rule(_in_top_k, macs=unknown_macs),
    "ops.FFT": rule(_fft, macs=unknown_macs),
    "ops.FFT2": rule(_fft2, macs=unknown_macs),
    "ops.IFFT2": rule(_fft2, macs=unknown_macs),
    "ops.RFFT": rule(_rfft, macs=unknown_macs),
    "ops.IRFFT": rule(_irfft, macs=unknown_macs),
    "ops.STFT": rule(_stft, macs=unknown_macs),
    "ops.ISTFT": rule(_istft, macs=unknown_macs),
    "ops.ExtractSequences": rule(_extract_sequences),
    "ops.SegmentSum": rule(_segment, element_counts=_segment_counts),
    "ops.SegmentMax": rule(_segment, element_counts=_segment_counts),
    "ops.SegmentMin": rule(_segment, element_counts=_segment_counts),
    "ops.SegmentProd": rule(_segment, element_counts=_segment_counts),
    "ops.CDist": rule(_cdist, element_counts=_cdist_counts),
    "ops.ViewAsReal": rule(_view_as_real),
    "ops.ViewAsComplex": rule(_view_as_complex),
    "ops.Logdet": rule(_det, macs=unknown_macs),
    # linalg: exact shapes; the work depends on the backend's factorization.
    "ops.Cholesky": rule(_square_same, macs=unknown_macs),
    "ops.CholeskyInverse": rule(_square_same, macs=unknown_macs),
    "ops.Inv": rule(_square_same, macs=unknown_macs),
    "ops.Det": rule(_det, macs=unknown_macs),
    "ops.Eig": rule(_eig, macs=unknown_macs),
    "ops.Eigh": rule(_eig, macs=unknown_macs),
    "ops.MatrixRank": rule(_matrix_rank, macs=unknown_macs),
    "ops.Pinv": rule(_pinv, macs=unknown_macs),
    "ops.Qr": rule(_qr, macs=unknown_macs),
    "ops.SVD": rule(_svd, macs=unknown_macs),
    "ops.LuFactor": rule(_lu_factor, macs=unknown_macs),
    "ops.Solve": rule(_solve, macs=unknown_macs),
    "ops.SolveTriangular": rule(_solve, macs=unknown_macs),
    "ops.Lstsq": rule(_lstsq, macs=unknown_macs),
    "ops.Norm": rule(
        _norm,
        rf="reduce",
        macs=_norm_macs,
        element_counts=_norm_rule_counts,
        reduced_axes=_norm_axes,
    ),
    "ops.Rearrange": rule(_rearrange),
}

EXCLUDED: dict[str, str] = {
    "ops.SegmentReduction": "abstract base class of SegmentSum/SegmentMax/...: never recorded "
    "in a graph itself",
    "ops.JVP": "takes a Python function as an argument: it cannot be serialized into a "
    "functional model's config",
}
