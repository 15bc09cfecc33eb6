"""Enumerate the classes Keras exports, for the coverage tests in tests/layers/."""

from __future__ import annotations

import importlib
import inspect

# The public keras.ops families (keras.src.ops.<family>); operation/function/node modules are
# Keras's own machinery, not operations a model records.
OPS_FAMILIES = ("numpy", "math", "linalg", "einops", "nn", "core", "image")


def keras_op_classes(family: str) -> list[str]:
    """Every Operation subclass defined in keras.src.ops.<family>."""
    from keras.src.ops.operation import Operation

    module = importlib.import_module(f"keras.src.ops.{family}")
    return sorted(
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, Operation) and obj.__module__ == module.__name__
    )


def keras_layer_classes() -> list[str]:
    """Every class exported by keras.layers."""
    import keras

    return sorted(name for name, obj in vars(keras.layers).items() if inspect.isclass(obj))


def uncovered(keys: list[str]) -> list[str]:
    """Registry keys with neither a rule nor a documented exclusion."""
    from cnncost.layers import excluded_classes, known_classes

    covered = set(known_classes()) | set(excluded_classes())
    return [key for key in keys if key not in covered]
