"""An input's layout is its nearest windowed consumer's data_format (cnncost/layers/layout.py)."""

from __future__ import annotations

from cnncost.ir import Graph, Node, TensorRef
from cnncost.layers.layout import input_data_formats

CF = {"data_format": "channels_first"}
CL = {"data_format": "channels_last"}


def graph(*specs: tuple[str, str, dict, tuple[str, ...]]) -> Graph:
    """Nodes from (name, class, config, input names); InputLayer nodes are the model inputs."""
    nodes = tuple(
        Node(name, cls, "keras.layers", config, tuple(TensorRef(i) for i in inputs))
        for name, cls, config, inputs in specs
    )
    inputs = tuple(TensorRef(n.name) for n in nodes if n.is_input)
    return Graph("g", nodes, inputs, (TensorRef(nodes[-1].name),))


def test_flatten_writing_channels_last_does_not_outvote_the_convs():
    # What Keras writes for a channels_first model: Flatten's data_format is the global default.
    g = graph(
        ("x", "InputLayer", {}, ()),
        ("conv", "Conv2D", CF, ("x",)),
        ("flat", "Flatten", CL, ("conv",)),
        ("dense", "Dense", {}, ("flat",)),
    )
    assert input_data_formats(g) == {"x": "channels_first"}


def test_search_goes_through_layout_keeping_layers_to_the_nearest_window():
    g = graph(
        ("x", "InputLayer", {}, ()),
        ("bn", "BatchNormalization", {"axis": 1}, ("x",)),
        ("relu", "ReLU", {}, ("bn",)),
        ("add", "Add", {}, ("relu", "x")),
        ("pool", "MaxPooling2D", CF, ("add",)),
        ("conv", "Conv2D", CL, ("pool",)),  # farther away: does not decide
    )
    assert input_data_formats(g) == {"x": "channels_first"}


def test_a_reshape_ends_the_search():
    # input -> Reshape -> Conv2D(channels_first): the conv's axes are not the input's.
    g = graph(
        ("x", "InputLayer", {}, ()),
        ("reshape", "Reshape", {"target_shape": [6, 12, 12]}, ("x",)),
        ("conv", "Conv2D", CF, ("reshape",)),
    )
    assert input_data_formats(g) == {"x": "channels_last"}


def test_each_input_has_its_own_layout_and_one_d_windows_are_channels_last():
    g = graph(
        ("a", "InputLayer", {}, ()),
        ("b", "InputLayer", {}, ()),
        ("c", "InputLayer", {}, ()),
        ("conv_a", "Conv2D", CF, ("a",)),
        ("pad_b", "ZeroPadding1D", {"padding": 1}, ("b",)),  # no data_format: channels_last
        ("dense_c", "Dense", {}, ("c",)),  # no windowed consumer: Keras's default
    )
    assert input_data_formats(g) == {
        "a": "channels_first",
        "b": "channels_last",
        "c": "channels_last",
    }
