"""What a run actually runs on: the Keras backend, its devices, the precision policy and the
versions, written to run.json so that a silent CPU fallback cannot go unnoticed; and the
`--require-gpu` check.

Backend-neutral: only the active backend's library is imported (TensorFlow only when the Keras
backend is tensorflow); installed distributions are read from their metadata, not imported.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

# The pip distributions that each install a `tensorflow` package into the same folder: two of
# them at once overwrite each other's native libraries (whichever was installed last wins).
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly")


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tensorflow_distributions() -> dict[str, str]:
    """{distribution: version} of every TensorFlow distribution installed (no import)."""
    found = {name: installed_version(name) for name in TENSORFLOW_DISTRIBUTIONS}
    return {name: version for name, version in found.items() if version}


def devices(backend: str) -> list[dict[str, str]]:
    """Every device the backend sees: `kind` (cpu, gpu, tpu ...) and `name`."""
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            {"kind": d.device_type.lower(), "name": d.name}
            for d in tf.config.list_logical_devices()
        ]
    if backend == "jax":
        import jax

        return [
            {"kind": "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform,
             "name": f"{d.platform}:{d.id} {d.device_kind}"}
            for d in jax.devices()
        ]  # fmt: skip
    if backend == "torch":
        import torch

        found = [
            {"kind": "gpu", "name": f"cuda:{i} {torch.cuda.get_device_name(i)}"}
            for i in range(torch.cuda.device_count())
        ]
        return found + [{"kind": "cpu", "name": "cpu"}]
    return [{"kind": "cpu", "name": "cpu"}]


def versions(backend: str) -> dict[str, Any]:
    import keras
    import numpy as np

    found: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": backend,
    }
    if backend == "tensorflow":
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
        build = tf.sysconfig.get_build_info()
        found["tensorflow_cuda"] = build.get("cuda_version")
        found["tensorflow_cudnn"] = build.get("cudnn_version")
    elif backend == "jax":
        import jax

        found["jax"] = jax.__version__
        found["jaxlib"] = installed_version("jaxlib")
    elif backend == "torch":
        import torch

        found["torch"] = torch.__version__
        found["torch_cuda"] = torch.version.cuda
    found["tensorflow_distributions"] = tensorflow_distributions()
    return found


def runtime_info() -> dict[str, Any]:
    """The backend, its devices, how many are GPUs, the global precision policy, the versions,
    and warnings about the installation (two TensorFlows)."""
    import keras

    backend = keras.backend.backend()
    seen = devices(backend)
    warnings = []
    tf_dists = tensorflow_distributions()
    if len(tf_dists) > 1:
        warnings.append(
            f"{len(tf_dists)} TensorFlow distributions are installed "
            f"({', '.join(f'{k} {v}' for k, v in sorted(tf_dists.items()))}): they share one "
            "folder and overwrite each other's libraries; uninstall all and install one extra "
            "(.[gpu] or .[train])"
        )
    return {
        "backend": backend,
        "devices": seen,
        "gpus": sum(d["kind"] == "gpu" for d in seen),
        "precision_policy": keras.config.dtype_policy().name,
        "versions": versions(backend),
        "warnings": warnings,
    }


def gpu_count() -> int:
    import keras

    return sum(d["kind"] == "gpu" for d in devices(keras.backend.backend()))


def require_gpu(info: dict[str, Any]) -> None:
    """A one-line UsageError when no GPU is visible to the backend, saying what it sees and the
    usual cause."""
    if info["gpus"]:
        return
    backend = info["backend"]
    seen = ", ".join(d["name"] for d in info["devices"]) or "nothing"
    hint = {
        "tensorflow": "TensorFlow sees no GPU: is tensorflow-cpu installed (install .[gpu] "
        "alone), or the CUDA libraries missing?",
        "jax": "install jax with CUDA (e.g. jax[cuda12]) and .[no-tf]",
        "torch": "install a CUDA build of torch and .[no-tf]",
    }.get(backend, "")
    raise UsageError(
        f"--require-gpu: no GPU visible to the {backend} backend (it sees {seen}); {hint}"
    )
