"""Preprocessing layers: Rescaling, Resizing, CenterCrop, categorical encodings and lookups,
and the audio front ends (MelSpectrogram, STFTSpectrogram)."""

from __future__ import annotations

from cnncost.ir import Dim, Shape, Weight
from cnncost.layers.base import (
    Call,
    LayerRule,
    data_format,
    expect_rank,
    is_int,
    product,
    set_axes,
    spatial_axes,
    weight,
    window_output_length,
)
from cnncost.layers.ops_nn import unmodelled


def _to_size(call: Call) -> tuple[Shape, ...]:
    shape = expect_rank(call, 4)
    height, width = call.config.get("height"), call.config.get("width")
    if not all(is_int(v) and v > 0 for v in (height, width)):
        raise call.fail(f"height/width must be positive integers, not {height!r}/{width!r}")
    axes = spatial_axes(4, data_format(call))
    return (set_axes(shape, dict(zip(axes, (height, width)))),)


RULES = {
    "Rescaling": LayerRule(cost="rescaling"),
    # A resize is a spatial resampling the RF pass does not model exactly: marked "reshape".
    "Resizing": LayerRule(_to_size, rf="reshape", cost="resizing"),
    "CenterCrop": LayerRule(_to_size, rf="reshape"),
}


# -- categorical and lookup layers ---------------------------------------------------------------------
# Hashing and table lookups are integer work: 0 FLOPs. The output shapes follow each layer's
# `compute_output_shape` in keras/src/layers/preprocessing/.


def _depth(call: Call, key: str) -> int:
    depth = call.config.get(key)
    if not is_int(depth) or depth <= 0:
        raise call.fail(f"{key} must be a positive integer, not {depth!r}")
    return depth


def _encoded(shape: Shape, mode: str, depth) -> Shape:
    """CategoryEncoding/Hashing/IndexLookup: one_hot appends `depth` (replacing a trailing 1);
    multi_hot / count / tf_idf replace the last axis by `depth`."""
    if mode == "int":
        return shape
    if mode == "one_hot" and (shape[-1] != 1 or len(shape) == 1):
        return (*shape, depth)
    return (*shape[:-1], depth)


def _category_encoding(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "multi_hot")
    return (_encoded(call.shape, mode, _depth(call, "num_tokens")),)


def _count_adds(call: Call, outputs) -> dict[str, Dim]:
    # output_mode="count": one add per input token
    if call.config.get("output_mode") != "count":
        return {}
    tokens = product(call.shape[1:])
    if tokens is None:
        return {"count (input size unknown)": None}  # FLOPs unknown, with a warning
    return {"pointwise_add": tokens}


def _hashing(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "int")
    return (_encoded(call.shape, mode, _depth(call, "num_bins")),)


def _hashed_crossing(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "int")
    return (_encoded(call.shape, mode, _depth(call, "num_bins")),)


def _discretization_depth(call: Call) -> int:
    boundaries = call.config.get("bin_boundaries")
    if isinstance(boundaries, (list, tuple)):
        return len(boundaries) + 1
    return _depth(call, "num_bins")


def _discretization(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "int")
    depth = _discretization_depth(call)
    shape = call.shape
    if mode in ("int", "one_hot"):
        return (_encoded(shape, mode, depth),)
    # multi_hot / count: Keras drops axis 1 and appends depth
    return ((shape[0], *shape[2:], depth),)


def _discretization_counts(call: Call, outputs) -> dict[str, Dim]:
    # a binary search over the boundaries: ceil(log2(bins)) compares per input element
    elements = product(call.shape[1:])
    compares = max(_discretization_depth(call) - 1, 1).bit_length()
    if elements is None:
        return {"binary search (input size unknown)": None}  # FLOPs unknown, with a warning
    return {"elementary": elements * compares}


def _lookup_depth(call: Call):
    if call.config.get("pad_to_max_tokens"):
        return _depth(call, "max_tokens")
    size = call.config.get("vocabulary_size")
    return size if is_int(size) and size > 0 else None  # unknown: the vocabulary is an asset


def _lookup(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "int")
    return (_encoded(call.shape, mode, _lookup_depth(call)),)


def _tf_idf(call: Call, outputs) -> dict[str, Dim]:
    # tf_idf: counts times the idf weight per output element
    if call.config.get("output_mode") != "tf_idf":
        return {}
    return {"pointwise_multiply": product(outputs[0][1:])}


def _text_vectorization(call: Call) -> tuple[Shape, ...]:
    mode = call.config.get("output_mode", "int")
    shape = call.shape
    if mode == "int":
        return ((shape[0], call.config.get("output_sequence_length")),)
    shape = (*shape, None) if call.config.get("split") is not None else shape
    if len(shape) <= 1:
        shape = (*shape, 1)
    return (_encoded(shape, mode, _lookup_depth(call)),)


# -- audio -----------------------------------------------------------------------------------------


def _mel(call: Call) -> tuple[Shape, ...]:
    # (B, T) -> (B, num_mel_bins, (T + stride + 1) // stride), Keras's compute_output_shape
    shape = expect_rank(call, 2)
    stride = _depth(call, "sequence_stride")
    frames = None if shape[1] is None else (shape[1] + stride + 1) // stride
    return ((shape[0], _depth(call, "num_mel_bins"), frames),)


def _stft_geometry(call: Call) -> tuple[int, int, int, str]:
    frame = _depth(call, "frame_length")
    step = call.config.get("frame_step") or frame // 2
    fft = call.config.get("fft_length") or 2 ** (frame - 1).bit_length()
    mode = call.config.get("mode", "log")
    return frame, step, fft // 2 + 1, mode


def _stft_shape(call: Call) -> tuple[Dim, Dim, int, int]:
    """(frames, channels, frequency bins) of the two strided convolutions over the signal."""
    shape = expect_rank(call, 3)
    fmt_ = data_format(call)
    steps, channels = (shape[1], shape[2]) if fmt_ == "channels_last" else (shape[2], shape[1])
    frame, step, bins, mode = _stft_geometry(call)
    padding = str(call.config.get("padding", "valid")).lower()
    frames = window_output_length(steps, frame, step, 1, padding, call, 1)
    return frames, channels, bins, frame


def _stft(call: Call) -> tuple[Shape, ...]:
    frames, channels, bins, _ = _stft_shape(call)
    mode = _stft_geometry(call)[3]
    freq = 2 * bins if mode == "stft" else bins
    batch = call.shape[0]
    if call.config.get("expand_dims"):
        if data_format(call) == "channels_last":
            return ((batch, frames, freq, channels),)
        return ((batch, channels, frames, freq),)
    features = None if channels is None else freq * channels
    if data_format(call) == "channels_last":
        return ((batch, frames, features),)
    return ((batch, features, frames),)


def _stft_kernels(call: Call) -> tuple[str, ...]:
    mode = _stft_geometry(call)[3]
    return tuple(k for k, skip in (("real", "imag"), ("imag", "real")) if mode != skip)


def _stft_weights(call: Call) -> tuple[Weight, ...]:
    # real_kernel unless mode="imag", imag_kernel unless mode="real": (frame_length, 1, bins)
    frame, _, bins, _ = _stft_geometry(call)
    return tuple(weight(f"{k}_kernel", (frame, 1, bins), True) for k in _stft_kernels(call))


def _stft_macs(call: Call, outputs) -> Dim:
    # each kernel: a strided conv1d of frame_length taps into `bins` outputs, per channel
    frames, channels, bins, frame = _stft_shape(call)
    if frames is None or channels is None:
        return None
    return len(_stft_kernels(call)) * frames * channels * bins * frame


# per element of one conv output: log: 2 squares, add, max, sqrt, max, log = 7; magnitude 5;
# psd: 2 squares, add, plus the doubled interior bins 1 = 4; angle: arctan2 1; real/imag/stft 0
_STFT_POST = {"log": 7, "magnitude": 5, "psd": 4, "angle": 1, "real": 0, "imag": 0, "stft": 0}


def _stft_counts(call: Call, outputs) -> dict[str, Dim]:
    frames, channels, bins, _ = _stft_shape(call)
    mode = _stft_geometry(call)[3]
    if mode not in _STFT_POST:
        raise call.fail(f"unknown mode {mode!r}")
    n = None if frames is None or channels is None else frames * channels * bins
    return {"elementary": None if n is None else _STFT_POST[mode] * n}


RULES.update(
    {
        "CategoryEncoding": LayerRule(_category_encoding, rf="reshape", element_counts=_count_adds),
        "Hashing": LayerRule(_hashing, rf="reshape", element_counts=_count_adds),
        "HashedCrossing": LayerRule(_hashed_crossing, rf="reshape"),
        "Discretization": LayerRule(
            _discretization, rf="reshape", element_counts=_discretization_counts
        ),
        "IntegerLookup": LayerRule(_lookup, rf="reshape", element_counts=_tf_idf),
        "StringLookup": LayerRule(_lookup, rf="reshape", element_counts=_tf_idf),
        "TextVectorization": LayerRule(_text_vectorization, rf="reshape", element_counts=_tf_idf),
        # The FFT and the mel filterbank: not modelled (MACs and FLOPs unknown, shapes exact).
        "MelSpectrogram": LayerRule(
            _mel,
            macs=lambda c, o: None,
            rf="reshape",
            element_counts=unmodelled("mel_spectrogram"),
        ),
        # Keras computes the STFT as two strided conv1d with fixed (trainable) kernels.
        "STFTSpectrogram": LayerRule(
            _stft,
            _stft_weights,
            _stft_macs,
            rf="reshape",
            element_counts=_stft_counts,
        ),
    }
)
