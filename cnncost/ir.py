"""The intermediate representation: a flat, topologically ordered graph of layer calls.

Every loader produces a `Graph`; every pass reads one. Nothing here knows about Keras.
A dimension is an `int`, `None` (unknown) or, in symbolic analyses, a sympy expression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Dim = Any  # int | None | sympy.Expr
Shape = tuple[Dim, ...]


def batch_symbol() -> Any:
    """The batch size as a sympy symbol (imported only when asked for). A traced call that folds
    the batch into its first axis (Swin's windows: `ops.reshape(x, (batch * windows, ...))`) has
    a first axis `k * batch`: k rows per sample (`cnncost.passes.batch`)."""
    import sympy

    return sympy.Symbol("batch", positive=True, integer=True)


def batch_multiple(value: Any) -> int | None:
    """c where `value` is the sympy expression `c * batch` (c a positive integer: k rows per
    sample, or a tensor's c elements per sample); None for anything else (ints, None, other
    expressions). Imports sympy only for a sympy value."""
    if not hasattr(value, "free_symbols"):
        return None
    quotient = value / batch_symbol()
    return int(quotient) if quotient.is_Integer and quotient > 0 else None


def known_sum(values: Iterable[Dim]) -> Dim:
    """The exact sum, or None when any term is unknown (never a silent 0 for an unknown)."""
    total: Dim = 0
    for value in values:
        if value is None:
            return None
        total = total + value
    return total


def partial_sum(named_values: Iterable[tuple[str, Dim]]) -> tuple[Dim, tuple[str, ...]]:
    """The sum of the known values and the names of the unknown ones: with any name left out,
    the sum is a lower bound (every value counted is non-negative), never a silent total."""
    total: Dim = 0
    left_out: list[str] = []
    for name, value in named_values:
        if value is None:
            left_out.append(name)
        else:
            total = total + value
    return total, tuple(left_out)


@dataclass(frozen=True)
class TensorRef:
    """Output `index` of the node called `node`."""

    node: str
    index: int = 0


@dataclass(frozen=True)
class Weight:
    """One variable a layer owns, as Keras creates it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool


@dataclass(frozen=True, eq=False)
class Node:
    """One call of a layer or keras.ops operation.

    `name` is the row name (`outer/inner` inside nested models, `layer:k` for the k-th extra call
    of a shared layer); `layer` is the Keras layer it calls, so calls of one shared layer share
    weights. `inputs` are the tensor arguments in call order, flattened; `arguments` keeps the raw
    call structure (literals and `TensorRef`s) for operations whose result depends on it.
    """

    name: str
    class_name: str
    module: str
    config: Mapping[str, Any]
    inputs: tuple[TensorRef, ...] = ()
    arguments: tuple[Any, ...] = ()
    keyword_arguments: Mapping[str, Any] = field(default_factory=dict)
    recorded_input_shapes: tuple[Shape | None, ...] = ()
    layer: str = ""
    shares_weights_with: str | None = None
    trainable: bool = True
    dtype_policy: str = "float32"
    # The config's `registered_name`: None for Keras layers, the class name for keras.ops,
    # "package>Class" for a class registered with keras.saving.register_keras_serializable.
    registered_name: str | None = None
    # The variables of the live layer, where a live model is analysed and cnncost has no rule for
    # its class (params are then counted from them); None from files.
    recorded_weights: tuple[Weight, ...] | None = None

    @property
    def is_input(self) -> bool:
        return self.class_name == "InputLayer"


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef, ...]
    source: str = ""
    input_shapes: Mapping[str, Shape] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return self._by_name[name]

    @property
    def _by_name(self) -> dict[str, Node]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {n.name: n for n in self.nodes}
            object.__setattr__(self, "_index", cached)
        return cached
