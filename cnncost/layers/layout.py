"""Which axes of a model input are spatial: read from the windowed layers that consume it.

Keras has no per-tensor layout: each windowed layer (conv, pooling, upsampling, padding,
cropping) says in its own `data_format` which axes it slides over. Other layers' `data_format`
says nothing about their input: Keras writes Flatten's as the global default, `channels_last`,
even inside a channels_first model. So an input's layout is that of the *nearest windowed layer
downstream of it*, reached through layers that keep the layout (pointwise, merges, reductions);
a Reshape/Permute/Flatten/Dense in between ends the search (the tensor after it is laid out
differently). An input no windowed layer reaches keeps Keras's default, channels_last.

This module never imports keras.
"""

from __future__ import annotations

from collections import deque

from cnncost.ir import Graph
from cnncost.layers import rule_for

DEFAULT_FORMAT = "channels_last"
_KEEPS_LAYOUT = ("pointwise", "merge", "reduce", "input")


def input_data_formats(graph: Graph) -> dict[str, str]:
    """Model input name -> the data_format of the nearest windowed layer that consumes it.

    Breadth-first over consumers (ties: the earlier node in topological order), so a layer one
    step away decides before one two steps away.
    """
    consumers: dict[str, list[str]] = {node.name: [] for node in graph.nodes}
    for node in graph.nodes:
        for ref in dict.fromkeys(ref.node for ref in node.inputs):
            consumers.setdefault(ref, []).append(node.name)
    return {ref.node: _nearest_window_format(graph, consumers, ref.node) for ref in graph.inputs}


def _nearest_window_format(graph: Graph, consumers: dict[str, list[str]], start: str) -> str:
    seen = {start}
    queue = deque(consumers.get(start, ()))
    seen.update(queue)
    while queue:
        node = graph.node(queue.popleft())
        rule = rule_for(node)
        if rule is None:
            continue
        if rule.window is not None:
            # 1-D padding/cropping/upsampling have no data_format: they are channels_last
            return node.config.get("data_format") or DEFAULT_FORMAT
        if rule.rf not in _KEEPS_LAYOUT:
            continue
        for name in consumers.get(node.name, ()):
            if name not in seen:
                seen.add(name)
                queue.append(name)
    return DEFAULT_FORMAT
