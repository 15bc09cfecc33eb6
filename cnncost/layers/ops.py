"""keras.ops operations that appear as nodes of functional graphs (e.g. ConvNeXt's `Add`).

Registered under `ops.<ClassName>` so they never collide with the layer of the same name.
"""

from __future__ import annotations

from cnncost.layers.base import LayerRule
from cnncost.layers.merging import _elementwise

_ELEMENTWISE = {
    "Add": "add",
    "Subtract": "add",
    "Multiply": "multiply",
    "Divide": "divide",
    "TrueDivide": "divide",
    "Maximum": "maximum",
    "Minimum": "maximum",
}

RULES = {
    f"ops.{name}": LayerRule(_elementwise, rf="merge", cost=cost)
    for name, cost in _ELEMENTWISE.items()
}
