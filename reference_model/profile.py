"""Measure a Keras model on this machine: per-layer and whole-model latency, a training step,
throughput, peak memory, and (on the TensorFlow backend) the TF profiler's FLOPs.

Backend-neutral (tensorflow, jax, torch; numpy for inference only): in-memory random data, no
tf.data, and TensorFlow is imported only when the Keras backend is tensorflow.

Method (every figure is a median of `repeats` timed calls after `warmup` untimed ones):
- per layer: each layer (each call of a shared layer) runs alone on random inputs of its real
  shape at the profiled batch, in the backend's compiled form (tf.function; jax.jit of
  `stateless_call`; torch eager under no_grad) and synchronised (GPU work waited for);
- inference: the whole model called the same way, `training=False`;
- train step: `model.train_on_batch` (the backend's compiled train function; Adam,
  sparse categorical cross-entropy on random labels);
- memory: the backend's device peak where it reports one (TF and torch on GPU, jax where
  `memory_stats` exists), and the process's peak resident set size (host) always.

The JSON written (`PROFILE_SCHEMA`) is documented in docs/validation.md and checked by
`check_profile`.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

PROFILE_SCHEMA = "reference_model.profile/1"


# -- backend-specific compile and synchronise ----------------------------------------------------


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _synchronise(backend: str) -> Callable[[Any], None]:
    if backend == "tensorflow":
        import tensorflow as tf

        gpu = bool(tf.config.list_logical_devices("GPU"))
        return (lambda out: tf.test.experimental.sync_devices()) if gpu else (lambda out: None)
    if backend == "jax":
        import jax

        return jax.block_until_ready
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return lambda out: torch.cuda.synchronize()
    return lambda out: None


def compiled_call(layer, args: tuple, kwargs: Mapping[str, Any]) -> Callable[[], Any]:
    """A no-argument function running `layer(*args, **kwargs)` compiled, synchronised."""
    backend = _backend()
    sync = _synchronise(backend)
    kwargs = dict(kwargs)
    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda a, k: layer(*a, **k))

        def run():
            out = function(args, kwargs)
            sync(out)
            return out

        return run
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]
        # Python values (`training=False`, `mask=None`, ints, strings) are fixed when the call
        # is compiled; only arrays are traced. Passing `training` traced made every layer that
        # branches on it (BatchNormalization, Dropout) fail with a TracerBoolConversionError.
        static, traced = split_static_kwargs(kwargs)
        function = jax.jit(lambda t, f, a, k: layer.stateless_call(t, f, *a, **k, **static)[0])

        def run():
            out = function(trainable, frozen, args, traced)
            sync(out)
            return out

        return run
    if backend == "torch":
        import torch

        def run():
            with torch.no_grad():
                out = layer(*args, **kwargs)
            sync(out)
            return out

        return run
    return lambda: layer(*args, **kwargs)


def split_static_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Python values, arrays) of a call's keyword arguments: what a compiler must fix at trace
    time (bools, None, numbers, strings, and containers of nothing else) and what it traces."""

    def static(value) -> bool:
        if value is None or isinstance(value, (bool, int, float, str)):
            return True
        if isinstance(value, (tuple, list)):
            return all(static(v) for v in value)
        return False

    fixed = {k: v for k, v in kwargs.items() if static(v)}
    return fixed, {k: v for k, v in kwargs.items() if k not in fixed}


def median_time(run: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def time_spread(times: list[float]) -> float | None:
    """(max - min) / median of the timed calls (`cnncost.spread`; None for one call): how far
    the clock itself moved, next to which a prediction's error can be judged."""
    from cnncost.spread import spread

    return spread(times)


# -- inputs of a layer's real shape ---------------------------------------------------------------


def _random(shape, dtype: str, rng):
    import keras

    dtype = str(dtype)
    if "int" in dtype or dtype == "bool":
        return keras.ops.convert_to_tensor(rng.integers(0, 2, size=shape), dtype=dtype)
    return keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"), dtype=dtype)


def layer_calls(model) -> list[tuple[str, Any, Any]]:
    """(row name, operation, node) for every layer/operation call in the model's graph, named
    as cnncost names rows (`layer`, `layer:k` for the k-th extra call of a shared layer)."""
    operations = getattr(model, "operations", None)
    if operations is None:  # Sequential
        operations = model.layers
    calls = []
    for operation in operations:
        if type(operation).__name__ == "InputLayer":
            continue
        nodes = [n for n in operation._inbound_nodes if n.arguments.keras_tensors]
        for k, node in enumerate(nodes):
            calls.append((operation.name if k == 0 else f"{operation.name}:{k}", operation, node))
    return calls


def _shape(kt, batch: int) -> tuple[int, ...]:
    dims = list(kt.shape)
    if dims and dims[0] is None:
        dims[0] = batch
    if any(d is None for d in dims):
        raise UsageError(f"cannot profile a layer with an unknown input size {tuple(kt.shape)}")
    return tuple(int(d) for d in dims)


def profile_layers(model, batch: int, repeats: int, warmup: int, rng) -> list[dict[str, Any]]:
    rows = []
    for name, operation, node in layer_calls(model):
        values = {
            id(kt): _random(_shape(kt, batch), kt.dtype, rng) for kt in node.arguments.keras_tensors
        }
        args, kwargs = node.arguments.fill_in(values)
        run = compiled_call(operation, tuple(args), kwargs)
        latency, times = median_time(run, repeats, warmup)
        rows.append(
            {
                "name": name,
                "type": type(operation).__name__,
                "input_shapes": [list(_shape(kt, batch)) for kt in node.arguments.keras_tensors],
                "output_shapes": [list(_shape(kt, batch)) for kt in node.outputs],
                "latency_s": latency,
                "min_s": min(times),
                "spread": time_spread(times),
            }
        )
    return rows


# -- memory -------------------------------------------------------------------------------------


def _reset_device_peak(backend: str) -> None:
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                tf.config.experimental.reset_memory_stats("GPU:0")
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
    except (ValueError, RuntimeError):
        pass


def device_peak_bytes(backend: str) -> int | None:
    """The backend's own peak device memory since the last reset, where it reports one."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        elif backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats()
            if stats and "peak_bytes_in_use" in stats:
                return int(stats["peak_bytes_in_use"])  # since start-up: jax has no reset
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.max_memory_allocated())
    except (ValueError, RuntimeError, AttributeError):
        pass
    return None


def host_peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


# -- the device -----------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(backend: str) -> dict[str, Any]:
    info: dict[str, Any] = {"kind": "cpu", "name": _cpu_name(), "cpu_count": os.cpu_count()}
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                info.update(kind="gpu", name=details.get("device_name", gpus[0].name))
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                info.update(kind=device.platform, name=device.device_kind)
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                info.update(kind="gpu", name=torch.cuda.get_device_name(0))
    except (RuntimeError, ValueError):
        pass
    return info


# -- the whole model --------------------------------------------------------------------------------


def _model_input(model, batch: int, rng):
    shapes = [_shape(kt, batch) for kt in model.inputs]
    values = [_random(s, kt.dtype, rng) for s, kt in zip(shapes, model.inputs)]
    return values[0] if len(values) == 1 else values


def _labels(model, batch: int, rng):
    import numpy as np

    classes = int(model.outputs[0].shape[-1])
    return np.asarray(rng.integers(0, classes, size=(batch,)), dtype="int32")


def profile_model(
    model,
    batch: int = 1,
    repeats: int = 10,
    warmup: int = 3,
    layers: bool = True,
    train: bool = True,
    tf_flops: bool = True,
    seed: int = 0,
    label: str = "",
) -> dict[str, Any]:
    """Everything measured on `model` at `batch`, as the profile JSON (a dict)."""
    import keras
    import numpy as np

    backend = _backend()
    rng = np.random.default_rng(seed)
    x = _model_input(model, batch, rng)
    result: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "model": label or model.name,
        "model_name": model.name,
        "backend": backend,
        "keras_version": keras.__version__,
        "python": platform.python_version(),
        "device": device_info(backend),
        "dtype_policy": keras.config.dtype_policy().name,
        "batch": batch,
        "input_shapes": [list(_shape(kt, batch)) for kt in model.inputs],
        "repeats": repeats,
        "warmup": warmup,
        "params": int(model.count_params()),
    }
    _reset_device_peak(backend)
    run = compiled_call(model, (x,), {"training": False})
    latency, times = median_time(run, repeats, warmup)
    result["inference"] = {
        "latency_s": latency,
        "samples_per_s": batch / latency,
        "device_peak_bytes": device_peak_bytes(backend),
        "spread": time_spread(times),
    }
    result["train_step"] = None
    if train and backend != "numpy":
        y = _labels(model, batch, rng)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        _reset_device_peak(backend)
        step, times = median_time(lambda: model.train_on_batch(x, y), repeats, warmup)
        result["train_step"] = {
            "latency_s": step,
            "samples_per_s": batch / step,
            "device_peak_bytes": device_peak_bytes(backend),
            "spread": time_spread(times),
            "jit_compile": bool(getattr(model, "jit_compile", False)),
            "optimizer": "adam",
        }
    result["layers"] = profile_layers(model, batch, repeats, warmup, rng) if layers else []
    result["tf_profiler"] = None
    if tf_flops and backend == "tensorflow":
        from .tf_flops import profiler_flops

        total, by_row = profiler_flops(model)
        result["tf_profiler"] = {
            "batch": 1,
            "total_flops": total,
            "layers": {name: sum(ops.values()) for name, ops in by_row.items()},
        }
    result["host_peak_rss_bytes"] = host_peak_rss_bytes()
    return result


# -- the schema ----------------------------------------------------------------------------------

_NUMBER = (int, float)
_TOP = {
    "schema": str,
    "model": str,
    "model_name": str,
    "backend": str,
    "keras_version": str,
    "device": dict,
    "dtype_policy": str,
    "batch": int,
    "input_shapes": list,
    "repeats": int,
    "warmup": int,
    "params": int,
    "inference": dict,
    "train_step": (dict, type(None)),
    "layers": list,
    "tf_profiler": (dict, type(None)),
    "host_peak_rss_bytes": int,
}
_TIMED = {"latency_s": _NUMBER, "samples_per_s": _NUMBER, "device_peak_bytes": (int, type(None))}
_LAYER = {
    "name": str,
    "type": str,
    "input_shapes": list,
    "output_shapes": list,
    "latency_s": _NUMBER,
    "min_s": _NUMBER,
}


def _check(data: Any, fields: Mapping[str, Any], where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    # optional (profiles from before it have none): the timed calls' (max - min) / median
    value = data.get("spread")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, _NUMBER) or not 0 <= value < math.inf
    ):
        raise ValueError(f"{where}.spread: must be a number >= 0 or null")
    for key, kind in fields.items():
        if key not in data:
            raise ValueError(f"{where}: missing field {key!r}")
        value = data[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise ValueError(f"{where}.{key}: unexpected {type(value).__name__}")
        if kind == _NUMBER and not value > 0:
            raise ValueError(f"{where}.{key}: must be > 0, got {value}")


def check_profile(data: Any) -> dict[str, Any]:
    """`data` if it is a profile JSON of this schema; a ValueError naming the field otherwise."""
    _check(data, _TOP, "profile")
    if data["schema"] != PROFILE_SCHEMA:
        raise ValueError(f"profile.schema: expected {PROFILE_SCHEMA!r}, got {data['schema']!r}")
    if data["batch"] < 1 or data["repeats"] < 1:
        raise ValueError("profile: batch and repeats must be >= 1")
    _check(data["inference"], _TIMED, "profile.inference")
    if data["train_step"] is not None:
        _check(data["train_step"], _TIMED, "profile.train_step")
    for i, layer in enumerate(data["layers"]):
        _check(layer, _LAYER, f"profile.layers[{i}]")
    names = [layer["name"] for layer in data["layers"]]
    if len(set(names)) != len(names):
        raise ValueError("profile.layers: duplicate layer names")
    if data["tf_profiler"] is not None:
        _check(
            data["tf_profiler"],
            {"batch": int, "total_flops": int, "layers": dict},
            "profile.tf_profiler",
        )
    return data


# -- which model --------------------------------------------------------------------------------


def build_named_model(name: str, image_size: int | None = None, dtype_policy: str = "float32"):
    """A seed variant (`seed`, `seed-gap`, ...), a spec .json / .keras file, a
    keras.applications model by class name (`ResNet50`), or a kimm model (`kimm:RegNetY008`),
    both built with weights=None, under the given dtype policy."""
    import keras

    from .model import VARIANTS, resolve_model

    keras.config.set_dtype_policy(dtype_policy)
    if name in VARIANTS or name.endswith((".json", ".keras")):
        if name.endswith(".keras"):
            from pathlib import Path

            from .model import keras_file_kind, load_config_only

            path = Path(name)
            if not path.is_file():
                raise UsageError(f"no such model file {name}")
            if keras_file_kind(path) == "config":
                return load_config_only(path)
            return keras.saving.load_model(path, compile=False)
        return resolve_model(name, image_size or 256, 46)
    size = image_size or 224
    if name.startswith(KIMM_PREFIX):
        return _kimm_model(name[len(KIMM_PREFIX) :], size)
    application = getattr(keras.applications, name, None)
    if not callable(application):
        raise UsageError(
            f"unknown model {name!r}: a seed variant ({', '.join(VARIANTS)}), a .json/.keras "
            "file, a keras.applications name such as ResNet50, or kimm:NAME (kimm.models)"
        )
    return application(weights=None, input_shape=(size, size, 3))


KIMM_PREFIX = "kimm:"  # `kimm:RegNetY008`: a kimm.models class (the `zoo` extra)


def _kimm_model(name: str, size: int):
    """A kimm model by class name, random weights (`weights=None`: nothing is downloaded)."""
    try:
        import kimm
    except ImportError:
        raise UsageError(f"model kimm:{name} needs the kimm package (pip install kimm)") from None
    if name not in kimm.list_models():
        raise UsageError(f"unknown kimm model {name!r} (kimm.list_models() names them)")
    return getattr(kimm.models, name)(weights=None, input_shape=(size, size, 3))
