"""Models whose file holds constructor arguments, not a layer graph: build them, only if trusted.

A Functional subclass (kimm models, keras-hub backbones, ...) or a subclassed model saves
`{"class_name": "ResNet18", "module": "kimm...", "config": {constructor arguments}}`: only the
package's own Python code can turn that into layers. Building it therefore imports and runs that
code, so it is off by default and needs one explicit opt-in (`--trust-model-code`,
`trust_model_code=True`). Without it nothing named by the file is imported.

With it, the module the config names is imported (what a user does before
`keras.saving.load_model`: Keras itself only imports its own family of packages) and the model is
built the way `keras.saving.load_model(path, compile=False)` builds it
(`keras.saving.deserialize_keras_object(config, safe_mode=True)`: safe mode refuses to
deserialize Python lambdas; the class's `from_config` and `build_from_config` run), but the
weights are never read. The live model is then analysed through its graph (`keras_live`; traced
if it has its own `call`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.errors import ModelConfigError
from cnncost.ir import Graph
from cnncost.loaders.keras_config import MODEL_CLASSES

TRUST_FLAG = "--trust-model-code"
TRUST_OPTION = "trust_model_code=True"


def code_built_class(config: Any) -> str | None:
    """`'ResNet18' from 'kimm.models.resnet'` when the top-level config names a model class that
    only its own code can build (not Sequential/Functional/Model, not a Keras built-in), else
    None (a graph config, or something that is not a model at all)."""
    if not isinstance(config, Mapping):
        return None
    class_name = config.get("class_name")
    if not isinstance(class_name, str) or class_name in MODEL_CLASSES:
        return None
    module = config.get("module")
    if isinstance(module, str) and module.split(".")[0] in ("keras", "tf_keras"):
        return None  # a Keras built-in that is not a model: the parser's own error says so
    if not module and class_name in _keras_layer_names():
        return None  # a Keras 2 config of a built-in layer (Keras 2 writes no module)
    registered = config.get("registered_name")
    described = registered if isinstance(registered, str) and registered else class_name
    return f"{described!r}" + (f" from {module!r}" if isinstance(module, str) and module else "")


def _keras_layer_names() -> set[str]:
    from cnncost.layers import excluded_classes, known_classes

    return {"InputLayer", *known_classes(), *excluded_classes()}


def refuse(described: str) -> ModelConfigError:
    return ModelConfigError(
        f"the configuration describes {described}, a model class whose layer graph only its "
        f"own code builds: pass {TRUST_FLAG} ({TRUST_OPTION} in cnncost.analyze) to build it "
        "with Keras (without weights); it is off by default because building imports and runs "
        "that package's code"
    )


def _named_class(config: Mapping[str, Any]) -> dict[str, Any]:
    """Import the module the config names (this runs its package's code: only when trusted) and
    return `{registered name: class}` for Keras, when the module defines that model class.

    Keras itself imports only modules of its own family (keras, keras_hub, ...); other packages
    must have been imported by the user before `load_model`. Importing the named module does
    that, and also runs the package's `register_keras_serializable` decorators for the layers
    its models use."""
    import importlib

    import keras

    module, class_name = config.get("module"), config.get("class_name")
    if not isinstance(module, str) or not module:
        return {}
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # not installed, or its own import failed
        raise ModelConfigError(
            f"cannot import {module!r}, the module of the model class ({first_line(exc)})"
        ) from None
    found = getattr(imported, class_name, None) if isinstance(class_name, str) else None
    if not (isinstance(found, type) and issubclass(found, keras.Model)):
        return {}
    registered = config.get("registered_name")
    return {registered if isinstance(registered, str) and registered else class_name: found}


def build_model(config: Mapping[str, Any], source: str) -> Any:
    """The live model `config` describes, built by Keras in safe mode, without weights."""
    import keras

    config = {k: v for k, v in config.items() if k != "compile_config"}  # compile=False
    custom_objects = _named_class(config)
    try:
        return keras.saving.deserialize_keras_object(
            config, custom_objects=custom_objects, safe_mode=True
        )
    except Exception as exc:  # the package's own code, or Keras refusing it in safe mode
        raise ModelConfigError(
            f"{source}: Keras could not build the model {code_built_class(config) or ''}"
            f" ({first_line(exc)})"
        ) from None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: first line of the message`, cut at `limit` characters (errors are one line).
    Keras wraps errors raised in `call` as "Exception encountered when calling X.call()." with
    the original message below, in ANSI bold: that message is the one shown."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("Exception encountered when calling")
    ]
    message = lines[0] if lines else ""
    if len(message) > limit:
        message = message[:limit] + "..."
    return type(exc).__name__ + (f": {message}" if message else "")


def graph_from_code_built(
    config: Mapping[str, Any], source: str, trust_model_code: bool, input_shape: Any = None
) -> Graph | None:
    """None for a graph config (the caller parses it); the built model's graph when the config
    needs building and `trust_model_code`; the one-line refusal otherwise."""
    described = code_built_class(config)
    if described is None:
        return None
    if not trust_model_code:
        raise refuse(described)
    from dataclasses import replace

    from cnncost.loaders.keras_live import graph_from_model

    model = build_model(config, source)
    if not hasattr(model, "layers"):
        raise ModelConfigError(f"{source}: {described} built a {type(model).__name__}, not a model")
    return replace(graph_from_model(model, input_shape), source=source)
