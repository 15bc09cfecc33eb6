"""Device profiles for the roofline: datasheet dense peaks, user files, and `cnncost calibrate`.

A profile holds a peak FLOP rate per compute dtype (FLOP/s), a memory bandwidth (bytes/s) and a
fixed per-layer overhead (seconds: the launch/dispatch cost a layer pays even when it does no
work). The built-in GPU figures are the vendors' *dense* datasheet peaks: the "with sparsity"
figures (2x) assume 2:4 structured-sparse weights, which a Keras CNN does not have. `tfloat32`
is the tensor-core rate for float32 matmuls/convs allowed to round inputs to TF32.

Where a profile comes from, in order:
1. `--device PATH.json`: that file;
2. `<devices dir>/<name>.json`, the devices dir being `$CNNCOST_DEVICES_DIR` or
   `~/.config/cnncost/devices` (where `cnncost calibrate` writes);
3. the built-in table below.

The per-layer overhead of the built-in GPUs (5 microseconds, about one CUDA kernel launch) is an
assumption, not a datasheet figure; a calibrated profile measures its own.

Per-layer-kind factors (`efficiency`, a mapping kind -> `KindFactors`; kinds in
`cnncost.passes.roofline.KINDS`): how far below the roofline a kind of layer runs on this device,
measured by `cnncost calibrate --kinds` on synthetic layers (docs/validation.md). A kind with no
entry runs at the raw roofline (efficiency 1.0, the device's `overhead_s`); the built-in datasheet
profiles have none (no datasheet gives them).

The shape-dependent time model (`time_model`, a `cnncost.time_model.TimeModel`, JSON key
`time_model`, also from `calibrate --kinds`): per time kind a few coefficients on named features
of each layer's shape and work, fitted on synthetic layers; the roofline pass uses it first, then
the kind factors, then the raw roofline. `without_time_model(profile)` drops it (the profile then
predicts exactly as one calibrated before it existed).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnncost.errors import CnnCostError
from cnncost.time_model import TimeModel, time_model_from_dict

TERA = 10**12
GIGA = 10**9
KERNEL_LAUNCH_S = 5e-6  # assumed per-layer overhead on a GPU (not a datasheet figure)
DTYPES = ("float64", "float32", "tfloat32", "float16", "bfloat16")


@dataclass(frozen=True)
class KindFactors:
    """How one kind of layer runs relative to the raw roofline on a device.

    efficiency: achieved fraction of the roofline, max(FLOPs / peak, bytes / bandwidth) / time;
        1.0 runs at the roofline, 0.25 four times slower (> 1: faster than the calibrated peak
        or bandwidth, e.g. a tensor that stays in cache);
    overhead_s: fixed time per kernel-group of this kind inside a compiled call (replaces the
        device's `overhead_s`; None keeps it);
    backward_efficiency: the gradient work's efficiency relative to the forward's (0.5: the
        backward part of a training step runs at half the forward's rate);
    train_overhead_s: fixed time per kernel-group in a training step (forward, input gradient,
        weight gradient, update; None keeps `overhead_s`).
    """

    efficiency: float = 1.0
    overhead_s: float | None = None
    backward_efficiency: float = 1.0
    train_overhead_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficiency": self.efficiency,
            "overhead_s": self.overhead_s,
            "backward_efficiency": self.backward_efficiency,
            "train_overhead_s": self.train_overhead_s,
        }


RAW = KindFactors()  # the roofline as it is: what a kind without factors gets


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    peak_flops: Mapping[str, float]  # compute dtype -> dense peak FLOP/s
    bandwidth: float  # bytes/s
    overhead_s: float = 0.0  # fixed time per layer inside a compiled model
    description: str = ""
    source: str = ""  # where the figures come from (datasheet URL, or "calibrated ...")
    measured: Mapping[str, Any] = field(default_factory=dict)  # calibration details
    call_overhead_s: float = 0.0  # fixed time per compiled call (once per model call)
    efficiency: Mapping[str, KindFactors] = field(default_factory=dict)  # layer kind -> factors
    train_call_overhead_s: float | None = None  # fixed time per training step (None: call's)
    # calibration only: measured quantity -> (max - min) / median over its rounds (cnncost.spread)
    spread: Mapping[str, float] = field(default_factory=dict)
    noisy: bool = False  # stored with `calibrate --accept-noisy` although refused as noisy
    # the shape-dependent time model (`cnncost.time_model`, `calibrate --kinds`); None: the
    # per-kind factors and the roofline predict, exactly as before it existed
    time_model: TimeModel | None = None

    def factors(self, kind: str) -> KindFactors:
        """The factors of a layer kind; the raw roofline (all 1.0) for a kind not calibrated."""
        return self.efficiency.get(kind, RAW)

    @property
    def train_call_s(self) -> float:
        """Fixed time per training step (loss, optimizer bookkeeping, the compiled call)."""
        if self.train_call_overhead_s is None:
            return self.call_overhead_s
        return self.train_call_overhead_s

    def peak_for(self, dtype: str, tf32: bool = False) -> tuple[str, float]:
        """(dtype key used, peak FLOP/s) for a compute dtype; float32 with `tf32` -> tfloat32."""
        key = "tfloat32" if tf32 and dtype == "float32" and "tfloat32" in self.peak_flops else dtype
        if key not in self.peak_flops:
            raise CnnCostError(
                f"device {self.name!r} has no peak for {dtype}; it has "
                f"{', '.join(sorted(self.peak_flops))}"
            )
        return key, float(self.peak_flops[key])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "peak_flops": dict(self.peak_flops),
            "bandwidth": self.bandwidth,
            "overhead_s": self.overhead_s,
            "call_overhead_s": self.call_overhead_s,
            "train_call_overhead_s": self.train_call_overhead_s,
            "efficiency": {kind: f.to_dict() for kind, f in self.efficiency.items()},
            "spread": dict(self.spread),
            "noisy": self.noisy,
            "measured": dict(self.measured),
        } | ({} if self.time_model is None else {"time_model": self.time_model.to_dict()})


def _gpu(name, description, source, fp32, tf32, fp16, bf16, bandwidth_gb_s) -> DeviceProfile:
    peaks = {"float32": fp32 * TERA, "float16": fp16 * TERA}
    if tf32 is not None:
        peaks["tfloat32"] = tf32 * TERA
    if bf16 is not None:
        peaks["bfloat16"] = bf16 * TERA
    return DeviceProfile(name, peaks, bandwidth_gb_s * GIGA, KERNEL_LAUNCH_S, description, source)


BUILTIN: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        # NVIDIA H200 datasheet (https://www.nvidia.com/en-us/data-center/h200/), SXM: FP32 67
        # TFLOPS; TF32 989, BF16/FP16 1,979 TFLOPS "with sparsity" -> dense 494.5 / 989.5;
        # HBM3e 4.8 TB/s.
        _gpu("h200", "NVIDIA H200 SXM 141GB", "nvidia.com/en-us/data-center/h200 datasheet",
             67, 494.5, 989.5, 989.5, 4800),
        # NVIDIA H100 datasheet (https://www.nvidia.com/en-us/data-center/h100/), SXM: FP32 67;
        # TF32 989, BF16/FP16 1,979 with sparsity -> dense 494.5 / 989.5; HBM3 3.35 TB/s.
        _gpu("h100", "NVIDIA H100 SXM 80GB", "nvidia.com/en-us/data-center/h100 datasheet",
             67, 494.5, 989.5, 989.5, 3350),
        # NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf), 80GB SXM:
        # FP32 19.5; TF32 156 (312 sparse); BF16/FP16 312 (624 sparse); HBM2e 2,039 GB/s.
        _gpu("a100", "NVIDIA A100 SXM 80GB", "NVIDIA A100 datasheet (1758950-r4)",
             19.5, 156, 312, 312, 2039),
        # NVIDIA L4 datasheet (https://www.nvidia.com/en-us/data-center/l4/): FP32 30.3;
        # TF32 120, BF16/FP16 242 with sparsity -> dense 60 / 121; GDDR6 300 GB/s.
        _gpu("l4", "NVIDIA L4 24GB", "nvidia.com/en-us/data-center/l4 datasheet",
             30.3, 60, 121, 121, 300),
        # NVIDIA T4 datasheet (https://www.nvidia.com/en-us/data-center/tesla-t4/): FP32 8.1;
        # mixed FP16/FP32 tensor 65 TFLOPS (Turing: no TF32, no BF16); GDDR6 320 GB/s.
        _gpu("t4", "NVIDIA T4 16GB", "nvidia.com/en-us/data-center/tesla-t4 datasheet",
             8.1, None, 65, None, 320),
        # NVIDIA V100 datasheet (https://www.nvidia.com/en-us/data-center/v100/), SXM2: FP32
        # 15.7; tensor (FP16) 125 TFLOPS (Volta: no TF32, no BF16); HBM2 900 GB/s.
        _gpu("v100", "NVIDIA V100 SXM2", "nvidia.com/en-us/data-center/v100 datasheet",
             15.7, None, 125, None, 900),
    )
}  # fmt: skip


def devices_dir() -> Path:
    env = os.environ.get("CNNCOST_DEVICES_DIR")
    return Path(env) if env else Path.home() / ".config" / "cnncost" / "devices"


def profile_from_dict(data: Mapping[str, Any], origin: str) -> DeviceProfile:
    """A profile from its JSON form: one schema, every field's type and range checked, one-line
    errors (a profile file is a side file the user names: untrusted input)."""
    if not isinstance(data, Mapping):
        raise CnnCostError(f"{origin}: a device profile is a JSON object")
    peaks = data.get("peak_flops")
    if not isinstance(peaks, Mapping) or not peaks:
        raise CnnCostError(f"{origin}: 'peak_flops' must be an object of dtype -> FLOP/s")
    for key, value in peaks.items():
        if not _number(value, positive=True):
            raise CnnCostError(f"{origin}: peak_flops[{key!r}] must be a positive number")
    bandwidth = data.get("bandwidth")
    if not _number(bandwidth, positive=True):
        raise CnnCostError(f"{origin}: 'bandwidth' must be a positive number of bytes/s")
    overheads = []
    for key in ("overhead_s", "call_overhead_s"):
        value = data.get(key, 0.0)
        if not _number(value, minimum=0.0):
            raise CnnCostError(f"{origin}: {key!r} must be a number of seconds >= 0")
        overheads.append(float(value))
    train_call = data.get("train_call_overhead_s")
    if train_call is not None and not _number(train_call, minimum=0.0):
        raise CnnCostError(f"{origin}: 'train_call_overhead_s' must be a number of seconds >= 0")
    texts = {}
    for key in ("name", "description", "source"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise CnnCostError(f"{origin}: {key!r} must be a string")
        texts[key] = value
    measured = data.get("measured")
    if measured is not None and not isinstance(measured, Mapping):
        raise CnnCostError(f"{origin}: 'measured' must be an object")
    spread = data.get("spread", {})  # absent in profiles from before the spread: none measured
    if not isinstance(spread, Mapping) or not all(
        isinstance(k, str) and _number(v, minimum=0.0) for k, v in spread.items()
    ):
        raise CnnCostError(f"{origin}: 'spread' must be an object of quantity -> number >= 0")
    noisy = data.get("noisy", False)
    if not isinstance(noisy, bool):
        raise CnnCostError(f"{origin}: 'noisy' must be true or false")
    return DeviceProfile(
        name=texts["name"] or Path(origin).stem,
        peak_flops={str(k): float(v) for k, v in peaks.items()},
        bandwidth=float(bandwidth),
        overhead_s=overheads[0],
        call_overhead_s=overheads[1],
        description=texts["description"] or "",
        source=origin if texts["source"] is None else texts["source"],
        measured=dict(measured or {}),
        efficiency=_efficiency_from_dict(data.get("efficiency"), origin),
        train_call_overhead_s=None if train_call is None else float(train_call),
        spread={k: float(v) for k, v in spread.items()},
        noisy=noisy,
        time_model=time_model_from_dict(data.get("time_model"), origin),
    )


def without_time_model(profile: DeviceProfile) -> DeviceProfile:
    """The same profile without its shape-dependent time model: predicts with the per-kind
    factors and the roofline as before it existed (validation shows both from one calibration)."""
    return replace(profile, time_model=None)


def _number(value: Any, minimum: float | None = None, positive: bool = False) -> bool:
    """A finite JSON number (not a bool, NaN or infinity; an int too large for a float is out of
    range, or beyond cnncost's count cap: docs/limits.md), positive or >= minimum when asked."""
    from cnncost.limits import MAX_COUNT

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        if not math.isfinite(value) or abs(value) > MAX_COUNT:
            return False
    except OverflowError:  # an int beyond any float
        return False
    if positive and value <= 0:
        return False
    return minimum is None or value >= minimum


def _efficiency_from_dict(data: Any, origin: str) -> dict[str, KindFactors]:
    """The `efficiency` object of a profile file; absent (older files) -> no factors (raw)."""
    from cnncost.passes.roofline import KINDS

    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CnnCostError(f"{origin}: 'efficiency' must be an object of layer kind -> factors")
    factors = {}
    for kind, entry in data.items():
        where = f"{origin}: efficiency[{kind!r}]"
        if kind not in KINDS:
            raise CnnCostError(f"{where}: unknown layer kind (known: {', '.join(KINDS)})")
        if not isinstance(entry, Mapping):
            raise CnnCostError(f"{where} must be an object")
        for key in ("efficiency", "backward_efficiency"):
            if key in entry and not _number(entry[key], positive=True):
                raise CnnCostError(f"{where}: {key!r} must be a positive number")
        overheads = []
        for key in ("overhead_s", "train_overhead_s"):
            value = entry.get(key)
            if value is not None and not _number(value, minimum=0.0):
                raise CnnCostError(f"{where}: {key!r} must be a number of seconds >= 0")
            overheads.append(None if value is None else float(value))
        factors[str(kind)] = KindFactors(
            float(entry.get("efficiency", 1.0)),
            overheads[0],
            float(entry.get("backward_efficiency", 1.0)),
            overheads[1],
        )
    return factors


def _read(path: Path) -> DeviceProfile:
    from cnncost.limits import MAX_SIDE_FILE_BYTES, loads_json, read_capped

    data = loads_json(read_capped(path, MAX_SIDE_FILE_BYTES, "device profile"), str(path))
    return profile_from_dict(data, str(path))


def load_device(name: str) -> DeviceProfile:
    """The profile `name` means: a JSON path, a user/calibrated profile, or a built-in GPU."""
    path = Path(name)
    if name.endswith(".json") or path.is_file():
        if not os.path.lexists(path):
            raise CnnCostError(f"no device profile file {name}")
        return _read(path)  # a FIFO, a device or a link to one is refused by the capped reader
    user = devices_dir() / f"{name}.json"
    if user.is_file():
        return _read(user)
    if name.lower() in BUILTIN:
        return BUILTIN[name.lower()]
    known = sorted(set(BUILTIN) | {p.stem for p in devices_dir().glob("*.json")})
    raise CnnCostError(
        f"unknown device {name!r}; known: {', '.join(known)} "
        "(or run `cnncost calibrate` for this machine, or give a profile .json)"
    )


def profile_path(name: str, out: str | Path | None = None) -> Path:
    """Where a profile is written: `out`, or `<devices dir>/<name>.json`."""
    return Path(out) if out else devices_dir() / f"{name}.json"


def save_device(profile: DeviceProfile, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the profile (atomically; an existing file only with `force`: `cnncost.outputs`)."""
    from cnncost.outputs import write_output

    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    return write_output(profile_path(profile.name, out), text, force=force, create_parent=True)


# -- calibration --------------------------------------------------------------------------------


def timed_rounds(
    probes: Mapping[str, tuple[Callable[[], Any], int]],
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """{quantity: one time per round} for probes {quantity: (run, calls per round)}: each probe
    is run once to warm (first-touch page faults, BLAS thread start-up, compilation), then in
    each of `rounds` rounds every probe runs in turn (interleaved: load from another job lands
    on several probes in one round, which `cnncost.spread` then shows). A probe with several
    calls per round (a tiny op, microseconds) counts the median of its calls."""
    for run, _ in probes.values():
        run()
    times: dict[str, list[float]] = {quantity: [] for quantity in probes}
    for _ in range(rounds):
        for quantity, (run, calls) in probes.items():
            each = []
            for _ in range(calls):
                start = clock()
                run()
                each.append(clock() - start)
            times[quantity].append(statistics.median(each))
    return times


def calibrate_numpy(
    name: str,
    dtypes: tuple[str, ...] = ("float32", "float64"),
    matmul_size: int = 2048,
    copy_bytes: int = 256 * 2**20,
    repeats: int = 5,
) -> DeviceProfile:
    """Measure this CPU with numpy: n x n matmul (2n^3 FLOPs) per dtype, a large copy (read +
    write = 2x the array's bytes), and a tiny op's time as the per-layer overhead, all in
    `repeats` interleaved rounds (`timed_rounds`).

    The peak and bandwidth are the best round (a peak is a best case); the overhead is the
    median; `spread` holds each quantity's (max - min) / median over the rounds.
    """
    import numpy as np

    from cnncost.spread import spreads

    rng = np.random.default_rng(0)
    probes: dict[str, tuple[Callable[[], Any], int]] = {}
    for dtype in dtypes:
        a = rng.standard_normal((matmul_size, matmul_size)).astype(dtype)
        b = rng.standard_normal((matmul_size, matmul_size)).astype(dtype)
        probes[f"peak_flops.{dtype}"] = (lambda a=a, b=b: a @ b, 1)
    src = np.ones(copy_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    probes["bandwidth"] = (lambda: np.copyto(dst, src), 1)
    tiny = np.ones(8, dtype=np.float32)
    probes["overhead_s"] = (lambda: np.add(tiny, tiny), TINY_CALLS)
    times = timed_rounds(probes, repeats)
    peaks = {dtype: 2 * matmul_size**3 / min(times[f"peak_flops.{dtype}"]) for dtype in dtypes}
    bandwidth = 2 * src.nbytes / min(times["bandwidth"])
    overhead = statistics.median(times["overhead_s"])
    measured: dict[str, Any] = {
        "engine": "numpy",
        "matmul_size": matmul_size,
        "repeats": repeats,
        "rounds": repeats,
        "copy_bytes": int(src.nbytes),
        "overhead_op": f"numpy add of 8 floats (median of {TINY_CALLS} calls per round)",
    }
    return DeviceProfile(
        name, peaks, bandwidth, overhead, "this machine (numpy)", "cnncost calibrate", measured,
        spread=spreads(times),
    )  # fmt: skip


def calibrate_keras(
    name: str,
    dtypes: tuple[str, ...] = ("float32",),
    matmul_size: int = 2048,
    copy_bytes: int = 256 * 2**20,
    repeats: int = 5,
    kinds: bool = False,
    check: Callable[[DeviceProfile], Any] | None = None,
) -> DeviceProfile:
    """Measure through Keras on its current backend (the engine the profiled models run on):
    the same matmul / copy, each in the backend's compiled form (tf.function, jax.jit; torch
    eager) and synchronised, in `repeats` interleaved rounds (`timed_rounds`). Two overheads:
    `call_overhead_s`, one compiled call of a tiny op (paid once per model call, or per layer
    when a layer runs alone), and `overhead_s`, the extra time of each further tiny op chained
    inside one compiled call (paid per layer); `spread` per quantity as `calibrate_numpy`.
    With `kinds`, also the per-layer-kind factors and the training step's fixed cost
    (`cnncost.calibrate_kinds`), measured on synthetic layers against the figures above, after
    `check(profile)` (which may raise: a noisy calibration refused before minutes of kinds),
    and the shape-dependent time model (`calibrate_kinds.measure_time_model`)."""
    import keras
    import numpy as np

    from cnncost.spread import spreads

    backend = keras.backend.backend()
    run_compiled = _compiled_runner(backend)
    probes: dict[str, tuple[Callable[[], Any], int]] = {}
    for dtype in dtypes:
        a = keras.ops.convert_to_tensor(np.ones((matmul_size, matmul_size)), dtype=dtype)
        probes[f"peak_flops.{dtype}"] = (run_compiled(keras.ops.matmul, a, a), 1)
    src = keras.ops.convert_to_tensor(np.ones(copy_bytes // 4, dtype=np.float32))
    probes["bandwidth"] = (run_compiled(lambda x: x + 1.0, src), 1)
    tiny = keras.ops.convert_to_tensor(np.ones(8, dtype=np.float32))
    probes["call_overhead_s"] = (run_compiled(lambda x: x + 1.0, tiny), TINY_CALLS)

    def chain(x):
        for _ in range(CHAIN):
            x = keras.ops.sin(x)  # not foldable into one op
        return x

    # the spread of overhead_s is its chained call's (the overhead is a difference of medians)
    probes["overhead_s"] = (run_compiled(chain, tiny), CHAIN_CALLS)
    times = timed_rounds(probes, repeats)
    peaks = {dtype: 2 * matmul_size**3 / min(times[f"peak_flops.{dtype}"]) for dtype in dtypes}
    bandwidth = 2 * (copy_bytes // 4) * 4 / min(times["bandwidth"])
    call = statistics.median(times["call_overhead_s"])
    chained = statistics.median(times["overhead_s"])
    overhead = max(chained - call, 0.0) / (CHAIN - 1)
    measured = {
        "engine": f"keras/{backend}",
        "matmul_size": matmul_size,
        "copy_bytes": copy_bytes // 4 * 4,
        "repeats": repeats,
        "rounds": repeats,
        "overhead_op": f"compiled add of 8 floats ({TINY_CALLS} calls per round); {CHAIN} "
        f"chained sin ops of 8 floats ({CHAIN_CALLS} calls per round)",
    }
    profile = DeviceProfile(
        name, peaks, bandwidth, overhead, f"this machine (keras/{backend})", "cnncost calibrate",
        measured, call, spread=spreads(times),
    )  # fmt: skip
    if not kinds:
        return profile
    if check is not None:
        check(profile)
    from cnncost.calibrate_kinds import (
        SHAPES,
        kind_spreads,
        measure_kinds,
        over_peak,
        samples_summary,
    )

    factors, train_call, samples = measure_kinds(profile, repeats=repeats)
    measured["kinds"] = {
        "method": "synthetic chains per kind, batch 1, (size, channels) shapes; median times",
        "shapes": [list(s) for s in SHAPES],
        "samples": samples_summary(samples),
        "over_peak": over_peak(samples),  # free fits above the ceiling, refitted at 1
    }
    from cnncost.calibrate_kinds import measure_time_model

    # the shape-dependent model (cnncost.time_model): more synthetic layers, its own rounds
    time_model = measure_time_model(profile, train_call or profile.train_call_s, repeats=repeats)
    return replace(
        profile,
        efficiency=factors,
        train_call_overhead_s=train_call,
        spread={**profile.spread, **kind_spreads(samples)},
        time_model=time_model,
    )


def calibration_problems(profile: DeviceProfile) -> list[str]:
    """Why a just-measured profile should not be stored as it is (`cnncost.spread`): spreads
    over the limit, and figures beyond the datasheet of the built-in device it is named after."""
    from cnncost.spread import beyond_datasheet
    from cnncost.spread import calibration_problems as problems

    datasheet = BUILTIN.get(profile.name.lower())
    beyond = []
    if datasheet is not None:
        beyond = beyond_datasheet(
            profile.peak_flops, profile.bandwidth, datasheet.peak_flops, datasheet.bandwidth
        )
    return problems(profile.spread, int(profile.measured.get("rounds") or 0), beyond)


def flagged_noisy(profile: DeviceProfile, problems: list[str]) -> DeviceProfile:
    """The profile stored anyway (`--accept-noisy`): `noisy: true`, the reasons in `measured`."""
    return replace(profile, noisy=True, measured={**profile.measured, "noisy_because": problems})


def noisy_warning(profile: DeviceProfile) -> str:
    """What `report --device` says when it predicts with a profile flagged noisy."""
    widest = max(profile.spread.items(), key=lambda item: item[1], default=None)
    detail = "" if widest is None else f"; widest spread {widest[1]:.0%} ({widest[0]})"
    return (
        f"device profile {profile.name!r} is flagged noisy (calibrated on a busy machine{detail}):"
        " predicted times may be off by as much; calibrate again on a quiet machine"
    )


TINY_CALLS, CHAIN_CALLS = 20, 5  # calls per round of the tiny-op probes (median per round)
CHAIN = 64


def _compiled_runner(backend: str):
    """run(fn, *args) -> a no-argument callable running `fn` compiled and synchronised."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpu = bool(tf.config.list_logical_devices("GPU"))

        def make(fn, *args):
            compiled = tf.function(fn)

            def run():
                out = compiled(*args)
                if gpu:  # GPU ops are asynchronous; CPU eager calls return when done
                    tf.test.experimental.sync_devices()
                return out

            return run

        return make
    if backend == "jax":
        import jax

        def make(fn, *args):
            compiled = jax.jit(fn)
            return lambda: compiled(*args).block_until_ready()

        return make
    if backend == "torch":
        import torch

        def make(fn, *args):
            def run():
                out = fn(*args)
                if out.is_cuda:
                    torch.cuda.synchronize()
                return out

            return run

        return make
    raise CnnCostError(f"calibrate --engine keras: backend {backend!r} is not supported")
