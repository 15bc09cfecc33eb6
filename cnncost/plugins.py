"""Rules for your own layer classes.

cnncost never runs code from a model file, so a custom layer class (or a `Lambda`) is reported
`unsupported` until you tell cnncost what it does. A plugin is a Python module you write and
trust; it registers one rule per class name:

    from cnncost import plugins

    @plugins.layer_rule("ChannelScale")
    class ChannelScale(plugins.Rule):
        def weights(self, call):
            return (plugins.weight("scale", (call.shape[-1],), trainable=True),)

Load it with `cnncost report model.keras --plugin my_rules.py` (a file or a module name), with
`cnncost.plugins.load_plugin(...)` from Python, or by installing a package that declares an
entry point in the `cnncost.plugins` group. See docs/plugins.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from cnncost.errors import CnnCostError, PluginError
from cnncost.ir import Dim, Shape, Weight
from cnncost.layers import builtin_classes
from cnncost.layers import register as _register_in_registry
from cnncost.layers import unregister as _unregister_in_registry
from cnncost.layers.base import Call, LayerRule, Window, product, weight

ENTRY_POINT_GROUP = "cnncost.plugins"
RF_KINDS = frozenset({"pointwise", "window", "global", "merge", "reshape"})
_BUILTIN = frozenset(builtin_classes())


class Rule:
    """Subclass this and override what your layer does differently from the defaults.

    Defaults: the output has the input's shape, no weights, no multiply-accumulates, and each
    output element sees the same position of the input (`rf = "pointwise"`).

    - `output_shapes(call)`: a tuple with one shape per output; a shape is a tuple whose first
      entry is the batch dimension (None). `call.shape` is the first input's shape,
      `call.input_shapes` all of them, `call.config` the layer's config dict from the file.
    - `weights(call)`: a tuple of `weight(name, shape, trainable)`; params are counted from it.
    - `macs(call, outputs)`: multiply-accumulates for one sample, given the output shapes.
    - `rf`: "pointwise", "window" (then define `window(call)` returning a `Window`), "global"
      (every output sees the whole input), "merge" (several aligned inputs) or "reshape".
    - `cost`: the name of a per-element FLOP row (`cnncost conventions`), or None.
    """

    rf: str = "pointwise"
    cost: str | None = None

    def output_shapes(self, call: Call) -> tuple[Shape, ...]:
        return (call.shape,)

    def weights(self, call: Call) -> tuple[Weight, ...]:
        return ()

    def macs(self, call: Call, outputs: tuple[Shape, ...]) -> Dim:
        return 0

    window: Callable[[Call], Window] | None = None


def _is_dim(value: Any) -> bool:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value is None or value >= 0
    return hasattr(value, "free_symbols")  # a sympy expression in symbolic analyses


def _checked(class_name: str, what: str, function: Callable, check: Callable) -> Callable:
    """`function` with its failures and malformed results reported as one-line PluginErrors."""

    def run(call: Call, *args: Any) -> Any:
        try:
            result = function(call, *args)
        except CnnCostError:
            raise
        except Exception as exc:  # the plugin's own code: any failure is the plugin's
            raise PluginError(
                f"plugin rule for {class_name!r} failed in {what} on layer {call.node.name!r} "
                f"({type(exc).__name__}: {exc})"
            ) from None
        problem = check(result)
        if problem:
            raise PluginError(
                f"plugin rule for {class_name!r}: {what} returned {problem} "
                f"on layer {call.node.name!r}"
            )
        return result

    return run


def _check_shapes(result: Any) -> str:
    if not isinstance(result, tuple) or not result:
        return f"{result!r:.60} (expected a non-empty tuple of shapes)"
    for shape in result:
        if not isinstance(shape, tuple) or not all(_is_dim(d) for d in shape):
            return f"the shape {shape!r:.60} (expected a tuple of non-negative ints or None)"
    return ""


def _check_weights(result: Any) -> str:
    if not isinstance(result, tuple) or not all(isinstance(w, Weight) for w in result):
        return f"{result!r:.60} (expected a tuple of plugins.weight(...))"
    return ""


def _check_macs(result: Any) -> str:
    return "" if _is_dim(result) else f"{result!r:.60} (expected a non-negative int or None)"


def as_layer_rule(class_name: str, rule: Rule | LayerRule | type) -> LayerRule:
    """The registry's `LayerRule` for a `Rule` subclass or instance (or a `LayerRule`), with
    every function checked."""
    if isinstance(rule, type) and issubclass(rule, Rule):
        rule = rule()
    if isinstance(rule, Rule):
        rule = LayerRule(
            output_shapes=rule.output_shapes,
            weights=rule.weights,
            macs=rule.macs,
            rf=rule.rf,
            window=rule.window,
            cost=rule.cost,
        )
    if not isinstance(rule, LayerRule):
        raise PluginError(f"the rule for {class_name!r} is not a plugins.Rule or a LayerRule")
    if rule.rf not in RF_KINDS:
        raise PluginError(
            f"the rule for {class_name!r} has rf={rule.rf!r}: use one of {sorted(RF_KINDS)}"
        )
    if rule.rf == "window" and rule.window is None:
        raise PluginError(f"the rule for {class_name!r} has rf='window' but no window()")
    return LayerRule(
        output_shapes=_checked(class_name, "output_shapes", rule.output_shapes, _check_shapes),
        weights=_checked(class_name, "weights", rule.weights, _check_weights),
        macs=_checked(class_name, "macs", rule.macs, _check_macs),
        rf=rule.rf,
        window=rule.window,
        cost=rule.cost,
    )


def register_rule(class_name: str, rule: Rule | LayerRule | type, *, replace: bool = False) -> None:
    """Register `rule` for layers whose config says `"class_name": class_name`.

    Replacing a built-in rule (e.g. to model a `Dense` subclass saved under that name) needs
    `replace=True`, so that a plugin never changes a built-in count by accident.
    """
    if not isinstance(class_name, str) or not class_name:
        raise PluginError(f"a plugin rule needs a class name, not {class_name!r}")
    if class_name in _BUILTIN and not replace:
        raise PluginError(f"{class_name!r} has a built-in rule: pass replace=True to override it")
    _register_in_registry(class_name, as_layer_rule(class_name, rule))


def unregister_rule(class_name: str) -> None:
    """Remove a plugin rule (a replaced built-in rule comes back)."""
    _unregister_in_registry(class_name)


def layer_rule(class_name: str, *, replace: bool = False) -> Callable[[type], type]:
    """Class decorator: `@layer_rule("MyLayer")` on a `Rule` subclass registers it."""

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Rule)):
            raise PluginError(f"@layer_rule({class_name!r}) decorates a plugins.Rule subclass")
        register_rule(class_name, cls, replace=replace)
        return cls

    return decorate


def load_plugin(spec: str | Path) -> ModuleType:
    """Import a plugin: a path to a `.py` file, or a module name on `sys.path`.

    This runs the plugin's code: name only plugins you trust (model files are never run).
    """
    text = str(spec)
    path = Path(text)
    try:
        if text.endswith(".py") or path.is_file():
            if not path.is_file():
                if os.path.lexists(path):  # a FIFO, a device, a link to one: refused by kind
                    from cnncost.limits import check_regular

                    check_regular(path, "plugin file")
                raise PluginError(f"plugin {text}: no such file")
            name = f"cnncost_plugin_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise PluginError(f"plugin {text}: not a Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            return module
        return importlib.import_module(text)
    except CnnCostError:
        raise
    except Exception as exc:  # importing user code can raise anything; report it in one line
        raise PluginError(f"cannot load plugin {text} ({type(exc).__name__}: {exc})") from None


def load_plugins(specs: Iterable[str | Path] = (), entry_points: bool = True) -> list[str]:
    """Load the named plugins, then (if `entry_points`) those installed packages declare in the
    `cnncost.plugins` entry-point group. Returns what was loaded."""
    loaded = []
    for spec in specs:
        load_plugin(spec)
        loaded.append(str(spec))
    if entry_points:
        from importlib.metadata import entry_points as _entry_points

        for entry in _entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry.load()
            except CnnCostError:
                raise
            except Exception as exc:  # an installed plugin's import failed
                raise PluginError(
                    f"cannot load plugin {entry.name} = {entry.value} ({type(exc).__name__}: {exc})"
                ) from None
            loaded.append(f"{entry.name} = {entry.value}")
    return loaded


__all__ = [
    "Call",
    "LayerRule",
    "Rule",
    "Window",
    "layer_rule",
    "load_plugin",
    "load_plugins",
    "product",
    "register_rule",
    "unregister_rule",
    "weight",
]
