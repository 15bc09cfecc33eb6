"""A shape-dependent time model per layer kind, fitted on synthetic layers (`calibrate --kinds`).

Pure: the features, the prediction and the JSON form need only Python; the fit needs numpy
(imported inside `fit`, `nnls`). Never Keras: the timing lives in `cnncost.calibrate_kinds`.

**Model.** Each layer has a *time kind* (`cnncost.passes.roofline.time_kind`: `conv`, `dense`,
`depthwise`, `pooling`, `batchnorm`, `activation`, `merge`, `concat`, `reshape`, `padding`;
other layers have none). Per time kind and phase (inference, training step) the predicted time is
a non-negative combination of a few named features, each computed from cnncost's exact numbers
for the layer on the whole batch (`features`):

    layer   = kernel-groups (1 at inference; forward, input gradient, weight gradient, update
              in a training step): the coefficient is seconds per kernel-group
    compute = FLOPs / peak                   (s; coefficient 1 = runs at the calibrated peak)
    memory  = bytes moved / bandwidth        (s)
    narrow  = work * C0 / (C0 + channels)    (work = max(compute, memory); input channels)
    short   = work * P0 / (P0 + positions)   (positions = batch * output spatial positions)
    window  = work * (1 - 1 / kernel area)   (0 for a 1x1 kernel or a layer without a window)
    strided = work * (1 - 1 / stride area)   (0 at stride 1)

    time = sum(coefficient[f] * feature[f])          prediction = max(time, FLOPs / peak)

so a coefficient reads directly: `compute` 1.25 = 80% of peak on this kind's FLOPs; `narrow`
0.9 = a layer with C0 input channels pays 0.45 x its work more; `layer` 120e-6 = 120 us per
layer. `narrow` and `short` are bounded (at most the work itself), so with non-negative
coefficients the time grows with the FLOPs and the bytes at any fixed shape. Which features a
kind uses: `KIND_FEATURES`.

**Fit** (`fit`): non-negative least squares (scipy's `nnls`, Lawson-Hanson) on relative errors (each
sample's row divided by its measured time, or by `MIN_WEIGHT_S` if larger). A sample is a
synthetic model (a chain of a few layers); its features are the sums over its layers, per time kind, so one joint fit over all
samples covers chains that mix kinds (the training chains of weightless kinds start with a
BatchNormalization, whose coefficients the batchnorm chains fix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import CnnCostError

INFERENCE, TRAINING = "inference", "training"
PHASES = (INFERENCE, TRAINING)
C0 = 16  # channels at which `narrow` is half the work
P0 = 64  # positions (batch x spatial) at which `short` is half the work
MIN_WEIGHT_S = 20e-6  # the fit's errors are relative to the measured time, or to this if larger

FEATURES = ("layer", "compute", "memory", "narrow", "short", "window", "strided")
_WINDOWED = FEATURES
_ELEMENTWISE = ("layer", "memory", "short")
KIND_FEATURES: Mapping[str, tuple[str, ...]] = {
    "conv": _WINDOWED,
    "depthwise": _WINDOWED,
    # Conv with groups > 1 (ConvNeXt's, RegNet's): Keras's TensorFlow backend runs it as an
    # XLA-compiled call, not as a DepthwiseConv2D's kernel, so it gets coefficients of its own
    "grouped": _WINDOWED,
    "pooling": ("layer", "compute", "memory", "short", "window", "strided"),
    "dense": ("layer", "compute", "memory", "narrow", "short"),
    "batchnorm": _ELEMENTWISE,
    "activation": _ELEMENTWISE,
    "merge": _ELEMENTWISE,
    "concat": _ELEMENTWISE,
    "reshape": _ELEMENTWISE,
    "padding": _ELEMENTWISE,
}
TIME_KINDS = tuple(KIND_FEATURES)
SCHEMA = 1
CALL = "_call"  # fit_phase's key of the per-model-call constant


@dataclass(frozen=True)
class LayerShape:
    """What the features need besides the work: input channels, batch * output spatial
    positions, kernel area and stride area (1 where the layer has none)."""

    channels: int
    positions: int
    kernel_area: int = 1
    stride_area: int = 1


def features(
    flops: float, bytes_moved: float, calls: int, shape: LayerShape, peak: float, bandwidth: float
) -> dict[str, float]:
    """The named features of one layer call (module docstring) on the whole batch."""
    compute, memory = flops / peak, bytes_moved / bandwidth
    work = max(compute, memory)
    return {
        "layer": float(calls),
        "compute": compute,
        "memory": memory,
        "narrow": work * C0 / (C0 + max(shape.channels, 0)),
        "short": work * P0 / (P0 + max(shape.positions, 0)),
        "window": work * (1 - 1 / max(shape.kernel_area, 1)),
        "strided": work * (1 - 1 / max(shape.stride_area, 1)),
    }


@dataclass(frozen=True)
class KindTimeModel:
    """Coefficients per feature for one time kind: inference and training step (None: no
    training samples, the training time falls back)."""

    inference: Mapping[str, float]
    training: Mapping[str, float] | None = None
    samples: int = 0  # synthetic models this kind's coefficients were fitted on

    def coefficients(self, phase: str) -> Mapping[str, float] | None:
        return self.inference if phase == INFERENCE else self.training


def predict(coefficients: Mapping[str, float], feature_values: Mapping[str, float]) -> float:
    """sum(coefficient * feature): seconds (the floor is the caller's: `predict_floored`)."""
    return sum(c * feature_values.get(name, 0.0) for name, c in coefficients.items())


def predict_floored(
    coefficients: Mapping[str, float], feature_values: Mapping[str, float], floor_s: float
) -> float:
    """The prediction, never below the compute floor FLOPs / peak."""
    return max(predict(coefficients, feature_values), floor_s)


@dataclass(frozen=True)
class TimeSample:
    """One synthetic model as fitted: per time kind, per phase, its layers' summed features;
    the measured medians (call overheads subtracted; None: not measured) and their spreads."""

    name: str  # e.g. conv_k3_s2_c48_s33_b1: what was built
    features: Mapping[str, Mapping[str, Mapping[str, float]]]  # kind -> phase -> feature -> sum
    inference_s: float | None
    train_step_s: float | None
    inference_spread: float | None = None
    train_spread: float | None = None

    def measured(self, phase: str) -> float | None:
        return self.inference_s if phase == INFERENCE else self.train_step_s


@dataclass(frozen=True)
class TimeModel:
    """The device's time model: coefficients per time kind, the dtype of the peak it was
    fitted at (other dtypes fall back), and the samples (to refit: `refit`)."""

    kinds: Mapping[str, KindTimeModel]
    dtype: str = "float32"
    samples: tuple[TimeSample, ...] = ()
    method: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)  # e.g. calibration seconds
    # phase -> the fixed cost of one model call beyond the device's call overhead, fitted with
    # the coefficients (added once to a whole model's predicted time)
    call_s: Mapping[str, float] = field(default_factory=dict)

    def coefficients(self, kind: str | None, phase: str, dtype: str) -> Mapping[str, float] | None:
        """The coefficients for a time kind and phase, or None (not fitted, other dtype)."""
        if kind is None or dtype != self.dtype or kind not in self.kinds:
            return None
        return self.kinds[kind].coefficients(phase)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "method": self.method,
            "dtype": self.dtype,
            "constants": {"C0": C0, "P0": P0},
            "call_s": dict(self.call_s),
            "kinds": {
                kind: {
                    "inference": dict(m.inference),
                    "training": None if m.training is None else dict(m.training),
                    "samples": m.samples,
                }
                for kind, m in self.kinds.items()
            },
            "info": dict(self.info),
            "samples": [
                {
                    "name": s.name,
                    "features": {
                        k: {p: dict(f) for p, f in v.items()} for k, v in s.features.items()
                    },
                    "inference_s": s.inference_s,
                    "train_step_s": s.train_step_s,
                    "inference_spread": s.inference_spread,
                    "train_spread": s.train_spread,
                }
                for s in self.samples
            ],
        }


# -- the fit --------------------------------------------------------------------------------------


def nnls(a, b):
    """x >= 0 minimising |a x - b|: scipy's Lawson-Hanson active-set solver (scipy comes with the
    extras that calibrate: keras, train, gpu, no-tf)."""
    try:
        from scipy.optimize import nnls as scipy_nnls
    except ImportError as error:  # pragma: no cover - the extras install scipy
        raise CnnCostError(
            "fitting the time model needs scipy: pip install 'cnncost[keras]'"
        ) from error
    return scipy_nnls(a, b)[0]


def _columns(samples: Sequence[TimeSample], phase: str) -> list[tuple[str, str]]:
    """The (kind, feature) columns of a phase's fit: every feature of every kind that occurs,
    left out where every sample has it 0 (nothing to fit)."""
    columns = []
    for kind in TIME_KINDS:
        for name in KIND_FEATURES[kind]:
            if any(
                s.features.get(kind, {}).get(phase, {}).get(name, 0.0) > 0
                for s in samples
                if s.measured(phase) is not None
            ):
                columns.append((kind, name))
    return columns


def fit_phase(samples: Sequence[TimeSample], phase: str) -> dict[str, dict[str, float]]:
    """{kind: {feature: coefficient}} of one phase, plus {CALL: {"call": seconds}}: NNLS on
    relative errors over the samples with a measured time > 0 (columns scaled to unit norm for
    the solver, then unscaled). Every sample also has a `call` column (1 each): the fixed cost
    of calling a model beyond the calibrated call overhead, which would otherwise be shared out
    among the few layers of each chain as per-layer overhead."""
    import numpy as np

    used = [s for s in samples if (s.measured(phase) or 0.0) > 0]
    columns = _columns(used, phase)
    if not used or not columns:
        return {}
    columns.append((CALL, "call"))
    a = np.array(
        [
            [
                1.0 if k == CALL else s.features.get(k, {}).get(phase, {}).get(f, 0.0)
                for k, f in columns
            ]
            for s in used
        ]
    )
    t = np.array([s.measured(phase) for s in used])
    # relative errors (prediction - t) / t; a time near the clock's resolution or left after
    # subtracting the call overhead (a few us) would weigh without bound: errors relative to
    # at least MIN_WEIGHT_S
    scale = np.maximum(t, MIN_WEIGHT_S)
    a = a / scale[:, None]
    norms = np.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    x = nnls(a / norms, t / scale) / norms
    fitted: dict[str, dict[str, float]] = {}
    for (kind, name), value in zip(columns, x, strict=True):
        fitted.setdefault(kind, {})[name] = float(value)
    return fitted


def fit(
    samples: Sequence[TimeSample], dtype: str = "float32", method: str = "", info=None
) -> TimeModel:
    """The time model of these samples: each phase fitted jointly over all kinds (`fit_phase`);
    a kind without any training sample has no training coefficients (it falls back)."""
    inference, training = fit_phase(samples, INFERENCE), fit_phase(samples, TRAINING)
    call_s = {
        phase: fitted.pop(CALL)["call"]
        for phase, fitted in ((INFERENCE, inference), (TRAINING, training))
        if CALL in fitted
    }
    kinds = {}
    for kind in TIME_KINDS:
        if kind not in inference:
            continue
        count = sum(
            1
            for s in samples
            if INFERENCE in s.features.get(kind, {}) and s.inference_s is not None
        )
        kinds[kind] = KindTimeModel(
            {f: inference[kind].get(f, 0.0) for f in KIND_FEATURES[kind]},
            None
            if kind not in training
            else {f: training[kind].get(f, 0.0) for f in KIND_FEATURES[kind]},
            count,
        )
    return TimeModel(kinds, dtype, tuple(samples), method, dict(info or {}), call_s)


def refit(model: TimeModel) -> TimeModel:
    """The model fitted again from its stored samples."""
    return fit(model.samples, model.dtype, model.method, model.info)


# -- JSON -----------------------------------------------------------------------------------------


def _finite(value: Any, minimum: float = 0.0) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and abs(value) <= 1e300 and value >= minimum
    except OverflowError:
        return False


def _coefficients(data: Any, kind: str, where: str) -> dict[str, float]:
    if not isinstance(data, Mapping):
        raise CnnCostError(f"{where} must be an object of feature -> coefficient")
    out = {}
    for name, value in data.items():
        if name not in KIND_FEATURES[kind]:
            raise CnnCostError(
                f"{where}: unknown feature {name!r} (known: {', '.join(KIND_FEATURES[kind])})"
            )
        if not _finite(value):
            raise CnnCostError(f"{where}[{name!r}] must be a finite number >= 0")
        out[str(name)] = float(value)
    return out


def _sample_from_dict(data: Any, where: str) -> TimeSample:
    if not isinstance(data, Mapping):
        raise CnnCostError(f"{where} must be an object")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise CnnCostError(f"{where}: 'name' must be a string")
    raw = data.get("features")
    if not isinstance(raw, Mapping):
        raise CnnCostError(f"{where}: 'features' must be an object of kind -> phase -> features")
    feats: dict[str, dict[str, dict[str, float]]] = {}
    for kind, phases in raw.items():
        if kind not in KIND_FEATURES or not isinstance(phases, Mapping):
            raise CnnCostError(f"{where}: features[{kind!r}]: unknown time kind or not an object")
        feats[kind] = {}
        for phase, values in phases.items():
            if phase not in PHASES:
                raise CnnCostError(f"{where}: features[{kind!r}]: unknown phase {phase!r}")
            if not isinstance(values, Mapping) or not all(
                n in FEATURES and _finite(v) for n, v in values.items()
            ):
                raise CnnCostError(
                    f"{where}: features[{kind!r}][{phase!r}] must be feature -> number >= 0"
                )
            feats[kind][phase] = {str(n): float(v) for n, v in values.items()}
    times = []
    for key in ("inference_s", "train_step_s", "inference_spread", "train_spread"):
        value = data.get(key)
        if value is not None and not _finite(value):
            raise CnnCostError(f"{where}: {key!r} must be a number >= 0 or null")
        times.append(None if value is None else float(value))
    return TimeSample(name, feats, *times)


def time_model_from_dict(data: Any, origin: str) -> TimeModel | None:
    """The `time_model` object of a device profile (None when absent); one-line errors."""
    if data is None:
        return None
    where = f"{origin}: time_model"
    if not isinstance(data, Mapping):
        raise CnnCostError(f"{where} must be an object")
    if data.get("schema", SCHEMA) != SCHEMA:
        raise CnnCostError(f"{where}: schema {data.get('schema')!r} is not {SCHEMA}")
    constants = data.get("constants", {"C0": C0, "P0": P0})
    if constants != {"C0": C0, "P0": P0}:
        raise CnnCostError(f"{where}: constants {constants!r} are not this version's")
    dtype, method = data.get("dtype", "float32"), data.get("method", "")
    if not isinstance(dtype, str) or not isinstance(method, str):
        raise CnnCostError(f"{where}: 'dtype' and 'method' must be strings")
    kinds_data = data.get("kinds")
    if not isinstance(kinds_data, Mapping):
        raise CnnCostError(f"{where}: 'kinds' must be an object of time kind -> coefficients")
    kinds = {}
    for kind, entry in kinds_data.items():
        at = f"{where}.kinds[{kind!r}]"
        if kind not in KIND_FEATURES:
            raise CnnCostError(f"{at}: unknown time kind (known: {', '.join(TIME_KINDS)})")
        if not isinstance(entry, Mapping):
            raise CnnCostError(f"{at} must be an object")
        training = entry.get("training")
        count = entry.get("samples", 0)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CnnCostError(f"{at}: 'samples' must be a count >= 0")
        kinds[str(kind)] = KindTimeModel(
            _coefficients(entry.get("inference"), kind, f"{at}.inference"),
            None if training is None else _coefficients(training, kind, f"{at}.training"),
            count,
        )
    call_s = data.get("call_s", {})
    if not isinstance(call_s, Mapping) or not all(
        phase in PHASES and _finite(v) for phase, v in call_s.items()
    ):
        raise CnnCostError(f"{where}: 'call_s' must be an object of phase -> seconds >= 0")
    info = data.get("info", {})
    if not isinstance(info, Mapping):
        raise CnnCostError(f"{where}: 'info' must be an object")
    samples = data.get("samples", [])
    if not isinstance(samples, list):
        raise CnnCostError(f"{where}: 'samples' must be a list")
    return TimeModel(
        kinds,
        dtype,
        tuple(_sample_from_dict(s, f"{where}.samples[{i}]") for i, s in enumerate(samples)),
        method,
        dict(info),
        {str(k): float(v) for k, v in call_s.items()},
    )
