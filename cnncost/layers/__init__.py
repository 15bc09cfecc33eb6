"""The layer registry: one `LayerRule` per Keras class, grouped by family.

To support a new layer class, add its rule to the family module (or register a plugin rule with
`register`) and add its test rows; no pass, renderer or CLI code changes.
"""

from __future__ import annotations

from cnncost.ir import Node
from cnncost.layers import (
    activation,
    applications,
    attention,
    augmentation,
    conv,
    core,
    merging,
    normalization,
    ops,
    ops_nn,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
)
from cnncost.layers.base import Call, LayerRule, Window

_REGISTRY: dict[str, LayerRule] = {}
# Keras classes deliberately given no rule, registry key -> the reason (a family's `EXCLUDED`):
# tests/layers enumerate keras.layers and keras.ops and fail for any class in neither table.
_EXCLUDED: dict[str, str] = {}
_FAMILIES = (
    core,
    conv,
    pooling,
    normalization,
    merging,
    reshaping,
    activation,
    attention,
    preprocessing,
    applications,
    ops,
    ops_nn,
    recurrent,
    augmentation,
)
for _family in _FAMILIES:
    _REGISTRY.update(_family.RULES)
    _EXCLUDED.update(getattr(_family, "EXCLUDED", {}))


def registry_key(node: Node) -> str:
    """keras.ops operations live under `ops.<Class>`; layers under their class name."""
    if node.module.startswith("keras.src.ops") or node.module.startswith("keras.ops"):
        return f"ops.{node.class_name}"
    return node.class_name


def rule_for(node: Node) -> LayerRule | None:
    return _REGISTRY.get(registry_key(node))


def register(class_name: str, rule: LayerRule) -> None:
    """Register (or replace) the rule for a custom layer class."""
    _REGISTRY[class_name] = rule


def unsupported_reason(node: Node) -> str:
    """Why a node has no rule, for the report's warning (code in a model file is never run)."""
    if node.class_name == "Lambda":
        return "its code is never run"
    if node.class_name == "TFOpLambda":
        function = node.config.get("function")
        return f"the TensorFlow function tf.{function} is not modelled; its code is never run"
    keras_module = node.module.split(".")[0] in ("keras", "tf_keras", "tensorflow")
    if node.module and not keras_module:
        return "a custom class: describe it with a plugin rule (docs/plugins.md)"
    return "no rule for it: describe it with a plugin rule (docs/plugins.md)"


def known_classes() -> list[str]:
    return sorted(_REGISTRY)


def excluded_classes() -> dict[str, str]:
    """Registry keys of Keras classes deliberately left without a rule, with the reason."""
    return dict(_EXCLUDED)


__all__ = [
    "Call",
    "LayerRule",
    "Window",
    "excluded_classes",
    "known_classes",
    "register",
    "registry_key",
    "rule_for",
    "unsupported_reason",
]
