"""The layer registry: one `LayerRule` per Keras class, grouped by family.

To support a new layer class, add its rule to the family module (or register a plugin rule with
`register`) and add its test rows; no pass, renderer or CLI code changes.
"""

from __future__ import annotations

from collections.abc import Callable

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
# Built-in rules that cover only some configurations of their class (a family's
# `UNSUPPORTED_WHEN`: registry key -> function of the node giving a reason, or None when the rule
# applies): an RNN over a custom cell, a wrapper around a layer without a rule. Such a node is
# `unsupported`, with that reason, as a class without a rule.
_UNSUPPORTED_WHEN: dict[str, Callable[[Node], str | None]] = {}
for _family in _FAMILIES:
    _REGISTRY.update(_family.RULES)
    _EXCLUDED.update(getattr(_family, "EXCLUDED", {}))
    _UNSUPPORTED_WHEN.update(getattr(_family, "UNSUPPORTED_WHEN", {}))


def registry_key(node: Node) -> str:
    """keras.ops operations live under `ops.<Class>`; layers under their class name."""
    if node.module.startswith("keras.src.ops") or node.module.startswith("keras.ops"):
        return f"ops.{node.class_name}"
    return node.class_name


def _unsupported_configuration(key: str, node: Node) -> str | None:
    """Why a built-in rule does not cover this configuration (a family's UNSUPPORTED_WHEN)."""
    check = _UNSUPPORTED_WHEN.get(key)
    return check(node) if check is not None else None


def rule_for(node: Node) -> LayerRule | None:
    key = registry_key(node)
    if _unsupported_configuration(key, node):
        return None
    return _REGISTRY.get(key)


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
    key = registry_key(node)
    configuration = _unsupported_configuration(key, node)
    if configuration:
        return configuration
    if key in _EXCLUDED:
        return _EXCLUDED[key]
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
