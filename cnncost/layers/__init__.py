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
    ops_math,
    ops_nn,
    ops_numpy,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    third_party,
    traced,
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
    ops_numpy,
    ops_math,
    ops_nn,
    recurrent,
    augmentation,
    third_party,
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


# Packages whose classes the built-in rules describe. A config whose `module` names another package
# (kimm, keras_hub, the user's own code) describes a custom class, even when its class name is a
# Keras name (kimm's `LayerScale`, a user's `Identity` that owns weights): it gets a plugin rule
# or none, never Keras's rule.
KERAS_PACKAGES = frozenset({"keras", "tf_keras", "tensorflow", "keras_core"})

# Plugin rules (cnncost.plugins), by class name or registered name; consulted before the
# built-in rules, for any class.
_PLUGINS: dict[str, LayerRule] = {}


def registry_key(node: Node) -> str:
    """keras.ops operations live under `ops.<Class>`; layers under their class name."""
    if node.module.startswith("keras.src.ops") or node.module.startswith("keras.ops"):
        return f"ops.{node.class_name}"
    return node.class_name


def is_keras_class(node: Node) -> bool:
    """Whether the node's class is Keras's own: its module is in a Keras package (or not recorded,
    as in legacy configs, where the class name is all there is) and it is not registered under a
    package of its own (`"kimm>LayerScale"`; Keras writes no registered name for its layers and
    the bare class name for its ops)."""
    if node.module and node.module.split(".")[0] not in KERAS_PACKAGES:
        return False
    return node.registered_name in (None, node.class_name)


def _unsupported_configuration(key: str, node: Node) -> str | None:
    """Why a built-in rule does not cover this configuration (a family's UNSUPPORTED_WHEN)."""
    check = _UNSUPPORTED_WHEN.get(key)
    return check(node) if check is not None else None


def rule_for(node: Node) -> LayerRule | None:
    """A plugin rule for the node's registered or class name, else the built-in rule of a Keras
    class; None for a custom class without a plugin."""
    key = registry_key(node)
    plugin = _PLUGINS.get(node.registered_name or "") or _PLUGINS.get(key)
    if plugin is not None:
        return plugin
    third = third_party.third_party_key(node)  # a zoo class cnncost knows (third_party.py)
    keyed = third_party.RULES.get(third) or traced.RULES.get(third)  # or a trace's own rows
    if keyed is not None:
        return keyed
    if not is_keras_class(node) or _unsupported_configuration(key, node):
        return None
    return _REGISTRY.get(key)


def register(class_name: str, rule: LayerRule) -> None:
    """Register (or replace) the plugin rule for a class name or registered name."""
    _PLUGINS[class_name] = rule


def has_plugin(*names: str | None) -> bool:
    """Whether a plugin rule is registered under any of these class or registered names."""
    return any(name in _PLUGINS for name in names if name)


def unregister(class_name: str) -> None:
    _PLUGINS.pop(class_name, None)


def unsupported_reason(node: Node) -> str:
    """Why a node has no rule, for the report's warning (code in a model file is never run)."""
    if node.class_name == "Lambda":
        return "its code is never run"
    if node.class_name == "TFOpLambda":
        function = node.config.get("function")
        return f"the TensorFlow function tf.{function} is not modelled; its code is never run"
    if not is_keras_class(node):
        shared = " that shares a Keras class name" if node.class_name in _REGISTRY else ""
        where = node.registered_name or node.module
        # a live layer whose trace failed on sizes the model leaves unknown says which
        # (cnncost.loaders.keras_trace.unknown_sizes); a file's config is never read for it
        sizes = (
            node.config.get("cnncost_unknown_sizes") if node.recorded_weights is not None else None
        )
        return (
            f"a custom class{shared} (from {where}): describe it with a plugin rule "
            "(docs/plugins.md)" + (f"; {sizes}" if isinstance(sizes, str) else "")
        )
    key = registry_key(node)
    configuration = _unsupported_configuration(key, node)
    if configuration:
        return configuration
    if key in _EXCLUDED:
        return _EXCLUDED[key]
    return "no rule for it: describe it with a plugin rule (docs/plugins.md)"


def builtin_classes() -> list[str]:
    """Registry keys of the built-in rules."""
    return sorted(_REGISTRY)


def known_classes() -> list[str]:
    """Registry keys with a rule, built-in or plugin."""
    return sorted(set(_REGISTRY) | set(_PLUGINS))


def excluded_classes() -> dict[str, str]:
    """Registry keys of Keras classes deliberately left without a rule, with the reason."""
    return dict(_EXCLUDED)


__all__ = [
    "Call",
    "LayerRule",
    "Window",
    "builtin_classes",
    "excluded_classes",
    "has_plugin",
    "is_keras_class",
    "known_classes",
    "register",
    "registry_key",
    "rule_for",
    "unregister",
    "unsupported_reason",
]
