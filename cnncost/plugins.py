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
import signal
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
from cnncost.layers.base import Call, LayerRule, Window, is_int, is_symbolic, product, weight

ENTRY_POINT_GROUP = "cnncost.plugins"
NO_PLUGINS_ENV = "CNNCOST_NO_PLUGINS"  # set (not "", "0", "false", "no"): skip entry points
RF_KINDS = frozenset({"pointwise", "window", "global", "merge", "reshape"})
PADDINGS = frozenset({"valid", "same", "causal"})
_BUILTIN = frozenset(builtin_classes())

# -- a plugin's failures --------------------------------------------------------------------------
# A plugin is the user's code: whatever it raises (an Exception, SystemExit, a BaseException
# subclass of its own, MemoryError, RecursionError) is its failure, reported in one line naming
# it, never a traceback and never a silent exit. The one exception let through is a real Ctrl-C:
# the CLI installs `_on_sigint`, which counts the signal before raising KeyboardInterrupt, so a
# KeyboardInterrupt the plugin raised itself is told apart from one the user typed.
_sigints = 0


def _on_sigint(signum: int, frame: Any) -> None:
    global _sigints
    _sigints += 1
    raise KeyboardInterrupt


def install_interrupt_marker() -> Callable[[], None]:
    """Let `is_real_interrupt` tell the user's Ctrl-C from a KeyboardInterrupt a plugin raises
    (the CLI calls this for one run; only possible in the main thread). Returns the function
    that puts the previous SIGINT handler back."""
    global _sigints
    _sigints = 0
    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread: every KeyboardInterrupt counts as real
        return lambda: None

    def restore() -> None:
        if signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, previous)

    return restore


def is_real_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is the user's Ctrl-C (let through), not a plugin's own failure."""
    if not isinstance(exc, KeyboardInterrupt):
        return False
    if signal.getsignal(signal.SIGINT) is _on_sigint:
        return _sigints > 0
    return type(exc) is KeyboardInterrupt  # outside the CLI: assume the user's


def _failure(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    if value is None or is_int(value):
        return value is None or value >= 0
    return is_symbolic(value)  # a sympy integer expression in symbolic analyses


def _plugin_name(function: Callable) -> str:
    """Where a rule function comes from, for its errors: the plugin's file name, or module."""
    module_name = getattr(function, "__module__", None)
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    path = getattr(module, "__file__", None)
    if isinstance(path, str):
        return Path(path).name
    return module_name if isinstance(module_name, str) else "an unknown module"


def _checked(class_name: str, what: str, function: Callable, check: Callable) -> Callable:
    """`function` with its failures and malformed results reported as one-line PluginErrors
    naming the rule's class, the layer and the plugin the rule comes from."""
    origin = f"; the rule is from {_brief(_plugin_name(function))}"

    def run(call: Call, *args: Any) -> Any:
        try:
            result = function(call, *args)
        except CnnCostError:
            raise
        except BaseException as exc:  # the plugin's own code: any failure is the plugin's
            if is_real_interrupt(exc):
                raise
            raise PluginError(
                f"plugin rule for {class_name!r} failed in {what} on layer {call.node.name!r} "
                f"({_failure(exc)}){origin}"
            ) from None
        try:
            problem = check(result, call)
        except BaseException as exc:  # an object whose attributes run the plugin's code
            if is_real_interrupt(exc):
                raise
            problem = f"{_brief(result)}, which cannot be checked ({_failure(exc)})"
        if problem:
            raise PluginError(
                f"plugin rule for {class_name!r}: {what} returned {problem} "
                f"on layer {call.node.name!r}{origin}"
            )
        return result

    return run


def _brief(value: Any) -> str:
    """A short description of what a plugin returned (its repr may itself fail or be huge)."""
    if isinstance(value, (int, float, str, bool, type(None), tuple, list, dict)):
        try:
            return f"{value!r:.60}"
        except BaseException:  # a container holding an object whose repr fails
            pass
    return f"a {type(value).__name__}"


def _check_shapes(result: Any, call: Call) -> str:
    if not isinstance(result, tuple) or not result:
        return f"{_brief(result)} (expected a non-empty tuple of shapes)"
    for shape in result:
        if not isinstance(shape, tuple) or not all(_is_dim(d) for d in shape):
            return f"the shape {_brief(shape)} (expected a tuple of non-negative ints or None)"
    return ""


def _check_weights(result: Any, call: Call) -> str:
    if not isinstance(result, tuple) or not all(type(w) is Weight for w in result):
        return f"{_brief(result)} (expected a tuple of plugins.weight(...))"
    for w in result:  # a Weight built directly, not through plugins.weight(), is checked too
        if not isinstance(w.name, str) or not isinstance(w.trainable, bool):
            return f"a weight named {_brief(w.name)} (expected a name and trainable=True/False)"
        if not isinstance(w.shape, tuple) or not all(
            (is_int(d) and d >= 0) or is_symbolic(d) for d in w.shape
        ):
            return f"weight {w.name!r:.40} of shape {_brief(w.shape)} (expected known sizes)"
    return ""


def _check_macs(result: Any, call: Call) -> str:
    return "" if _is_dim(result) else f"{_brief(result)} (expected a non-negative int or None)"


def _check_window(result: Any, call: Call) -> str:
    """A `Window` the receptive-field pass can use: one positive kernel, stride and dilation per
    axis, axes inside the input (not the batch axis), a known padding."""
    if type(result) is not Window:
        return f"{_brief(result)} (expected a plugins.Window(...))"
    fields = (result.axes, result.kernel, result.strides, result.dilation)
    if not all(isinstance(f, tuple) and all(is_int(v) for v in f) for f in fields):
        return f"{_brief(result)} (axes, kernel, strides, dilation must be tuples of ints)"
    if not result.axes or len({len(f) for f in fields}) != 1:
        return "a window whose axes, kernel, strides and dilation differ in length (or are empty)"
    rank = len(call.shape) if isinstance(call.shape, tuple) else None
    if rank is not None and not all(-rank < a < rank and a % rank != 0 for a in result.axes):
        return f"axes {result.axes} (expected spatial axes of the rank-{rank} input)"
    if rank is not None and len({a % rank for a in result.axes}) != len(result.axes):
        return f"axes {result.axes} (an axis twice)"
    if not all(v >= 1 for f in fields[1:] for v in f):
        return "a kernel, stride or dilation below 1"
    padding = result.padding
    explicit = (
        isinstance(padding, tuple)
        and len(padding) == len(result.axes)
        and all(
            isinstance(p, tuple) and len(p) == 2 and all(is_int(v) and v >= 0 for v in p)
            for p in padding
        )
    )
    if not (isinstance(padding, str) and padding in PADDINGS) and not explicit:
        return f"padding {_brief(padding)} (expected {', '.join(sorted(PADDINGS))} or pairs)"
    if not isinstance(result.transposed, bool):
        return "transposed that is not True or False"
    return ""


def _check_cost(class_name: str, cost: Any) -> None:
    """`cost` names rows of the FLOP table (`cnncost conventions`), or is None."""
    from cnncost.conventions import TABLE, row_keys

    if cost is None:
        return
    if not isinstance(cost, str) or not all(key in TABLE for key in row_keys(cost, {})):
        raise PluginError(
            f"the rule for {class_name!r} has cost={_brief(cost)}: use a row of "
            "`cnncost conventions` (e.g. 'multiply', 'bias') or None"
        )


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
    if not isinstance(rule.rf, str) or rule.rf not in RF_KINDS:
        raise PluginError(
            f"the rule for {class_name!r} has rf={rule.rf!r}: use one of {sorted(RF_KINDS)}"
        )
    if rule.rf == "window" and rule.window is None:
        raise PluginError(f"the rule for {class_name!r} has rf='window' but no window()")
    _check_cost(class_name, rule.cost)
    functions = (rule.output_shapes, rule.weights, rule.macs, rule.window)
    if not all(callable(f) for f in functions[:3]) or not (
        rule.window is None or callable(rule.window)
    ):
        raise PluginError(f"the rule for {class_name!r} has a member that is not a method")
    return LayerRule(
        output_shapes=_checked(class_name, "output_shapes", rule.output_shapes, _check_shapes),
        weights=_checked(class_name, "weights", rule.weights, _check_weights),
        macs=_checked(class_name, "macs", rule.macs, _check_macs),
        rf=rule.rf,
        window=None
        if rule.window is None
        else _checked(class_name, "window", rule.window, _check_window),
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
    except BaseException as exc:  # importing user code can raise anything (SystemExit too)
        if is_real_interrupt(exc):
            raise
        raise PluginError(f"cannot load plugin {text} ({_failure(exc)})") from None


def entry_points_disabled() -> bool:
    """Whether `CNNCOST_NO_PLUGINS` turns installed (entry-point) plugins off."""
    return os.environ.get(NO_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_plugins(specs: Iterable[str | Path] = (), entry_points: bool = True) -> list[str]:
    """Load the named plugins, then (if `entry_points` and `CNNCOST_NO_PLUGINS` is not set)
    those installed packages declare in the `cnncost.plugins` entry-point group. Returns what
    was loaded. A plugin that fails is one `PluginError` naming it (and, for an installed one,
    how to turn installed plugins off)."""
    loaded = []
    for spec in specs:
        load_plugin(spec)
        loaded.append(str(spec))
    if entry_points and not entry_points_disabled():
        for entry in _installed_entry_points():
            label = f"{_brief(entry.name)} = {_brief(entry.value)}"
            try:
                entry.load()
            except BaseException as exc:  # an installed plugin's import failed, however
                if is_real_interrupt(exc):
                    raise
                raise PluginError(
                    f"cannot load the installed plugin {label} ({_failure(exc)}); "
                    f"skip installed plugins with --no-plugins or {NO_PLUGINS_ENV}=1"
                ) from None
            loaded.append(label)
    return loaded


def _installed_entry_points() -> list:
    from importlib.metadata import entry_points as _entry_points

    try:
        return list(_entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # broken package metadata
        raise PluginError(
            f"cannot list installed plugins ({_failure(exc)}); skip them with --no-plugins or "
            f"{NO_PLUGINS_ENV}=1"
        ) from None


__all__ = [
    "Call",
    "LayerRule",
    "Rule",
    "Window",
    "layer_rule",
    "load_plugin",
    "entry_points_disabled",
    "load_plugins",
    "product",
    "register_rule",
    "unregister_rule",
    "weight",
]
