"""The config parser's caps (cnncost.limits): nested-model expansion, rows, edges, rank, names
and reference indices are bounded, each refusal is one line, and parsing plus analysis stay
linear in the rows (issue 17, item 1). Written from the class: sizes and depths are drawn."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncost import limits
from cnncost.analysis import Options, analyze_graph
from cnncost.errors import CnnCostError
from cnncost.loaders.keras_config import graph_from_config
from tests.support import hostile_files as hf

DRAWN = settings(max_examples=30, deadline=None, derandomize=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    return text


@DRAWN
@given(depth=st.integers(1, 40), width=st.integers(1, 4))
def test_nested_models_expand_exactly_or_are_refused_before_inlining(depth, width):
    """Each level calls the level below `width` times: width**depth inlined rows from a config
    linear in depth. Below the cap every row is there; above it the parse stops at once."""
    config = hf.doubling_config(depth, width)
    expected = width**depth + 1  # the ReLU of each innermost copy, and the top input
    started = time.process_time()
    try:
        graph = graph_from_config(config)
    except CnnCostError as exc:
        assert "more than" in _one_line(exc) or "nested too deeply" in str(exc)
        assert expected > limits.MAX_ROWS // 4 or depth > limits.MAX_NESTING
    else:
        assert len(graph.nodes) == expected <= limits.MAX_ROWS
    assert time.process_time() - started < 2.0


@DRAWN
@given(depth=st.integers(1, 200))
def test_empty_nested_models_count_against_the_cap(depth):
    """Nested models with no layers add no rows, but each call is still an expansion."""
    config = hf.doubling_config(depth, 2)
    inner = config
    for _ in range(depth):
        inner = inner["config"]["layers"][1]
    inner["config"]["layers"] = inner["config"]["layers"][:1]  # level 0: only its input
    started = time.process_time()
    try:
        graph_from_config(config)
    except CnnCostError as exc:
        _one_line(exc)
    assert time.process_time() - started < 2.0


@DRAWN
@given(length=st.integers(1, 3 * limits.MAX_NAME_CHARS), where=st.sampled_from(["layer", "model"]))
def test_names_are_capped(length, where):
    config = hf.sequential("m", (None, 8), [("ReLU", {})])
    name = "n" * length
    if where == "layer":
        config["config"]["layers"][1]["config"]["name"] = name
    else:
        config["config"]["name"] = name
    if length <= limits.MAX_NAME_CHARS:
        assert graph_from_config(config)
    else:
        with pytest.raises(CnnCostError, match=f"a name of {length} characters"):
            graph_from_config(config)


@DRAWN
@given(levels=st.integers(1, 30), length=st.integers(1, 200))
def test_row_names_built_by_nesting_are_capped(levels, length):
    """Names within the cap, nested as Sequential models in Sequential models, build a row name
    `a/a/.../relu` that can pass it."""
    model = {"class_name": "Sequential", "config": {"name": "a" * length, "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 8]}},
        {"class_name": "ReLU", "config": {"name": "relu"}}]}}  # fmt: skip
    for _ in range(levels):
        model = {"class_name": "Sequential", "config": {"name": "a" * length, "layers": [
            {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 8]}},
            model]}}  # fmt: skip
    row = levels * (length + 1) + len("relu")
    try:
        graph = graph_from_config(model)
    except CnnCostError as exc:
        assert "characters" in _one_line(exc)
        assert row > limits.MAX_NAME_CHARS
    else:
        assert row <= limits.MAX_NAME_CHARS
        assert len(graph.nodes[-1].name) == row


@DRAWN
@given(
    index=st.one_of(st.integers(-(10**30), 10**30), st.integers(-3, limits.MAX_INDEX + 3)),
    which=st.sampled_from(["node", "tensor"]),
)
def test_reference_indices_are_capped(index, which):
    config = hf.huge_index_config(**{"index" if which == "tensor" else "node": index})
    if which == "node":
        config["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][
            2
        ] = 0
    started = time.process_time()
    try:
        graph = graph_from_config(config)
        report = analyze_graph(graph, Options())
    except CnnCostError as exc:
        text = _one_line(exc)
        if not 0 <= index <= limits.MAX_INDEX:
            assert "indices must be in" in text
    else:
        assert 0 <= index <= limits.MAX_INDEX
        assert len(report.layers) == 3
    assert time.process_time() - started < 2.0


@DRAWN
@given(rank=st.integers(1, 4 * limits.MAX_RANK), via=st.sampled_from(["input", "reshape"]))
def test_rank_is_capped_on_inputs_and_on_every_layer_output(rank, via):
    if via == "input":
        config = hf.sequential("r", [None] + [1] * (rank - 1), [("ReLU", {})])
        total_rank = rank
    else:
        config = hf.sequential("r", (None, 1), [("Reshape", {"target_shape": [1] * rank})])
        total_rank = rank + 1  # the batch axis
    try:
        report = analyze_graph(graph_from_config(config), Options())
    except CnnCostError as exc:
        assert "rank" in _one_line(exc)
        assert total_rank > limits.MAX_RANK
    else:
        assert total_rank <= limits.MAX_RANK
        assert len(report.layers[-1].output_shapes[0]) == total_rank


@DRAWN
@given(count=st.integers(1, 3 * limits.MAX_EDGES // 2))
def test_tensor_references_are_capped(count):
    config = hf.functional("wide", [hf.input_layer("x"), hf.layer("Add", "out", ["x"] * count)])
    try:
        graph = graph_from_config(config)
    except CnnCostError as exc:
        assert "tensor references" in _one_line(exc)
        assert count > limits.MAX_EDGES
    else:
        assert count <= limits.MAX_EDGES
        assert len(graph.node("out").inputs) == count


@DRAWN
@given(count=st.integers(1, 2 * limits.MAX_INDEX))
def test_model_output_lists_are_capped(count):
    config = hf.functional("outs", [hf.input_layer("x"), hf.layer("ReLU", "out", ["x"])])
    config["config"]["output_layers"] = [["out", 0, 0]] * count
    if count <= limits.MAX_INDEX:
        assert len(graph_from_config(config).outputs) == count
    else:
        with pytest.raises(CnnCostError, match="output_layers"):
            graph_from_config(config)


def test_rows_are_capped():
    for count in (limits.MAX_ROWS - 10, limits.MAX_ROWS + 1):
        config = hf.sequential("m", (None, 8), [("Lambda", {"function": "f"})] * count)
        if count < limits.MAX_ROWS:
            assert len(graph_from_config(config).nodes) == count + 1
        else:
            with pytest.raises(CnnCostError, match=f"more than {limits.MAX_ROWS} layers"):
                graph_from_config(config)


def _cpu_seconds(count: int, functional: bool) -> float:
    if functional:
        layers, previous = [hf.input_layer("x", (None, 8))], "x"
        for index in range(count):
            layers.append(hf.layer("Lambda", f"l{index}", [previous], function="f"))
            previous = f"l{index}"
        layers.append(hf.layer("ReLU", "out", [previous]))
        config = hf.functional("f", layers)
    else:
        config = hf.sequential("s", (None, 8), [("Lambda", {"function": "f"})] * count)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        report = analyze_graph(graph_from_config(config), Options())
        report.to_dict()
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("functional", [False, True])
def test_parse_and_analysis_are_linear_in_the_rows(functional):
    """4x the rows costs about 4x (a quadratic pass would cost 16x): measured on Lambda layers,
    the case the review found quadratic, in CPU time, best of three."""
    small, large = _cpu_seconds(500, functional), _cpu_seconds(2000, functional)
    assert large < 7 * small, (small, large)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    field=st.sampled_from(["class_name", "module", "dtype", "padding", "data_format", "name"]),
    chars=st.integers(10, 3_000_000),
)
def test_long_strings_in_any_field_give_bounded_messages(tmp_path_factory, field, chars):
    """Whatever check quotes a config string, the error and every warning stay within
    MAX_MESSAGE_CHARS (errors.py) and the names within MAX_NAME_CHARS."""
    from cnncost.analysis import analyze
    from cnncost.errors import MAX_MESSAGE_CHARS

    path = hf.make_long_string(tmp_path_factory.mktemp("long"), field, chars)
    started = time.process_time()
    try:
        report = analyze(str(path))
    except CnnCostError as exc:
        assert len(str(exc)) <= MAX_MESSAGE_CHARS and "\n" not in str(exc)
    else:
        assert all(len(w) <= MAX_MESSAGE_CHARS for w in report.warnings)
        assert all(len(r.name) <= limits.MAX_NAME_CHARS for r in report.layers)
        assert all(len(r.type) <= limits.MAX_NAME_CHARS for r in report.layers)
    assert time.process_time() - started < 2.0
