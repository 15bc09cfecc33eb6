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
    conv,
    core,
    merging,
    normalization,
    ops,
    pooling,
    preprocessing,
    reshaping,
)
from cnncost.layers.base import Call, LayerRule, Window

_REGISTRY: dict[str, LayerRule] = {}
for _family in (
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
):
    _REGISTRY.update(_family.RULES)


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


def known_classes() -> list[str]:
    return sorted(_REGISTRY)


__all__ = ["Call", "LayerRule", "Window", "register", "rule_for", "registry_key", "known_classes"]
